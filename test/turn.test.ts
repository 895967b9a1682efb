import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { turnCredentials } from '../src/server/webrtc/credentials.js';
import { type Coturn, startCoturn, turnAllocate } from './helpers/coturn.js';
import { startServer, type TestServer } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

describe('TURN credentials checked by a real coturn (use-auth-secret, loopback)', () => {
  let coturn: Coturn;
  let t: TestServer;
  beforeAll(async () => {
    coturn = await startCoturn();
    t = await startServer({ stunUrls: [], turnUrls: coturn.urls, turnSecret: coturn.secret });
  });
  afterAll(async () => {
    await t?.close();
    await coturn?.stop();
  });

  it('accepts the credentials GET /v1/webrtc/config hands out', async () => {
    const { token } = await signIn(t.url);
    const res = await fetch(`${t.url}/v1/webrtc/config?device=mobile`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as {
      iceServers: { urls: string[]; username: string; credential: string }[];
    };
    const turn = body.iceServers[0]!;
    expect(turn.urls).toEqual(coturn.urls);
    expect(await turnAllocate(coturn.port, turn.username, turn.credential)).toEqual({ ok: true });
  });

  it('refuses expired credentials', async () => {
    const c = turnCredentials(coturn.secret, '0x0000000000000000000000000000000000000001', -5);
    expect(await turnAllocate(coturn.port, c.username, c.credential)).toEqual({ ok: false, errorCode: 401 });
  });

  it('refuses forged credentials: another secret, or a username edited after signing', async () => {
    const address = '0x0000000000000000000000000000000000000002';
    const forged = turnCredentials('not-the-secret', address, 3600);
    expect(await turnAllocate(coturn.port, forged.username, forged.credential)).toEqual({
      ok: false,
      errorCode: 401,
    });
    const real = turnCredentials(coturn.secret, address, 60);
    const stretched = real.username.replace(/^\d+/, (s) => String(Number(s) + 86_400));
    expect(await turnAllocate(coturn.port, stretched, real.credential)).toEqual({
      ok: false,
      errorCode: 401,
    });
  });
});
