import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { turnCredentials } from '../../src/server/webrtc/credentials.js';
import { ensureWebBuild } from '../helpers/browser.js';
import { type Coturn, startCoturn, turnAllocate } from '../helpers/coturn.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { signIn } from '../helpers/siwe.js';
import { FULL, recordFigure } from './figures.js';

/**
 * TURN: the ephemeral credentials the server mints are accepted by a real coturn
 * (use-auth-secret), expired and forged ones are refused; and no static TURN secret
 * reaches the web bundle the server ships.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('TURN credentials and secrets', () => {
  let coturn: Coturn;
  let t: TestServer;
  beforeAll(async () => {
    coturn = await startCoturn();
    t = await startServer({ stunUrls: [], turnUrls: coturn.urls, turnSecret: coturn.secret });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await coturn?.stop();
  });

  it('a real coturn accepts fresh credentials and refuses expired and forged ones', async () => {
    const { token, address } = await signIn(t.url);
    const res = await fetch(`${t.url}/v1/webrtc/config?device=desktop`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await res.text();
    // the config carries an HMAC of the secret, never the secret
    expect(text).not.toContain(coturn.secret);
    const turn = (JSON.parse(text) as { iceServers: { username: string; credential: string }[] })
      .iceServers[0]!;
    const fresh = await turnAllocate(coturn.port, turn.username, turn.credential);

    const expiredCreds = turnCredentials(coturn.secret, address, -5);
    const expired = await turnAllocate(coturn.port, expiredCreds.username, expiredCreds.credential);
    const otherSecret = turnCredentials('not-the-secret', address, 3600);
    const stretchedBase = turnCredentials(coturn.secret, address, 60);
    const forgedTries = [
      otherSecret,
      // expiry edited after signing
      {
        username: stretchedBase.username.replace(/^\d+/, (s) => String(Number(s) + 86_400)),
        credential: stretchedBase.credential,
      },
      // another user's name under this credential
      {
        username: `${stretchedBase.username.split(':')[0]}:0x${'1'.repeat(40)}`,
        credential: stretchedBase.credential,
      },
      // the secret itself as the password
      { username: stretchedBase.username, credential: coturn.secret },
    ];
    const forged = await Promise.all(
      forgedTries.map((c) => turnAllocate(coturn.port, c.username, c.credential)),
    );
    const forgedAccepted = forged.filter((r) => r.ok).length;

    recordFigure('turn', {
      scenario: 'TURN credentials against a real coturn (use-auth-secret)',
      reference:
        'coturn TURN REST API (draft-uberti-behave-turn-rest): HMAC-SHA1 time-limited credentials, expired or forged ones get 401',
      measured: `fresh credentials from /v1/webrtc/config: ${fresh.ok ? 'allocated' : `refused ${fresh.errorCode}`}; expired: ${expired.ok ? 'ACCEPTED' : `refused ${expired.errorCode}`}; forged (other secret, edited expiry, other user, secret as password): ${forgedAccepted}/${forged.length} accepted`,
      numbers: {
        freshAccepted: fresh.ok ? 1 : 0,
        expiredAccepted: expired.ok ? 1 : 0,
        forgedTried: forged.length,
        forgedAccepted,
      },
    });
    expect(fresh).toEqual({ ok: true });
    expect(expired).toEqual({ ok: false, errorCode: 401 });
    for (const r of forged) expect(r).toEqual({ ok: false, errorCode: 401 });
  });

  it('no TURN secret reaches the web bundle', async () => {
    // the short form scans the app build the browser tests use (cached per source version);
    // the full form builds the app again with TURN secrets in the build's environment, as a
    // careless deployment would have them, and checks that none of them is inlined
    let dir: string;
    let temp: string | undefined;
    if (FULL) {
      temp = mkdtempSync(join(tmpdir(), 'p3-web-'));
      dir = join(temp, 'dist');
      const vite = join(root, 'node_modules/vite/bin/vite.js');
      const run = spawnSync(
        process.execPath,
        [
          vite,
          'build',
          '--config',
          'web/vite.config.ts',
          '--outDir',
          dir,
          '--emptyOutDir',
          '--logLevel',
          'warn',
        ],
        {
          cwd: root,
          encoding: 'utf8',
          env: {
            ...process.env,
            NODE_ENV: 'production',
            TURN_SECRET: coturn.secret,
            VITE_TURN_SECRET: coturn.secret,
            TURN_CREDENTIAL: coturn.secret,
          },
        },
      );
      if (run.status !== 0) throw new Error(`vite build failed:\n${run.stdout}\n${run.stderr}`);
    } else {
      dir = await ensureWebBuild();
    }
    const needles = [coturn.secret, 'static-auth-secret', 'TURN_SECRET', 'turnSecret', 'TURN_CREDENTIAL'];
    const all = files(dir);
    const hits: string[] = [];
    let bytes = 0;
    for (const f of all) {
      const text = readFileSync(f, 'latin1');
      bytes += text.length;
      for (const n of needles) if (text.includes(n)) hits.push(`${n} in ${f.slice(dir.length + 1)}`);
    }
    // and what the server actually serves at / (the app, with the server's TURN secret set)
    const served = await startServer({
      stunUrls: [],
      turnUrls: coturn.urls,
      turnSecret: coturn.secret,
      webRoot: dir,
    });
    try {
      const html = await (await fetch(`${served.url}/`, { headers: { accept: 'text/html' } })).text();
      const scripts = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(scripts.length).toBeGreaterThan(0);
      for (const s of [
        html,
        ...(await Promise.all(scripts.map(async (p) => (await fetch(`${served.url}${p}`)).text()))),
      ]) {
        for (const n of needles) if (s.includes(n)) hits.push(`${n} served by the server`);
      }
    } finally {
      await served.close();
      if (temp) rmSync(temp, { recursive: true, force: true });
    }
    recordFigure('turn', {
      scenario: 'No static TURN secret in the web bundle',
      reference:
        'coturn use-auth-secret: the static-auth-secret stays on the server; clients only get time-limited HMAC credentials',
      measured: `${all.length} files (${Math.round(bytes / 1024)} KiB, source maps included) ${FULL ? 'of a fresh build with TURN_SECRET / VITE_TURN_SECRET set in its environment' : 'of the app build'}, plus what the server serves at /: occurrences of the secret, "static-auth-secret", "TURN_SECRET", "turnSecret", "TURN_CREDENTIAL": ${hits.length}`,
      numbers: { files: all.length, bytes, hits: hits.length },
    });
    expect(hits).toEqual([]);
  }, 120_000);
});
