import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackoffPolicy } from '../../src/client/backoff.js';
import { createMessagingClient, type MessagingClient } from '../../src/client/messaging.js';
import { createTokenService } from '../../src/server/auth/tokens.js';
import { redisConfig, startServer, TEST_SECRET, type TestServer, waitFor } from '../helpers/server.js';
import { newAccount } from '../helpers/siwe.js';
import { recordFigure, scale } from './figures.js';

/**
 * Random client disconnects: while clients of the SDK's messaging client exchange direct
 * messages, rounds of random kills cut 5 % of the sockets each (the TCP connection under
 * Socket.IO destroyed, no close frame: a dropped network). The SDK reconnects, resends
 * with the same clientMsgId and dedupes re-deliveries: every acknowledged message reaches
 * the app exactly once.
 */
const CLIENTS = 40;
const MESSAGES = scale(1_000, 10_000);
const KILL_SHARE = 0.05;
const KILL_EVERY_MS = 150;

/** Cuts the socket's TCP connection without a close frame. */
function killTransport(c: MessagingClient): boolean {
  const engine = c.socket.io.engine as unknown as
    | { transport?: { ws?: { _socket?: { destroy(): void } } }; close(): void }
    | undefined;
  const raw = engine?.transport?.ws?._socket;
  if (!raw) return false;
  raw.destroy();
  return true;
}

describe('random client disconnects during direct messages', () => {
  let t: TestServer;
  beforeAll(async () => {
    // Redis-backed inboxes (the production path); no rate limit in the way of the burst
    t = await startServer({ ...redisConfig(), rateLimit: 100_000, rateBurst: 100_000 });
  });
  afterAll(() => t.close());

  it('loses nothing and shows no duplicate to the app', async () => {
    // full jitter as the SDK default, with short steps so a killed client is back in < 200 ms
    const policy = createBackoffPolicy({ stepsMs: [50, 100, 200] });
    // tokens as sign-in mints them (sign-in itself is rate limited per IP, all of us are 127.0.0.1)
    const tokens = createTokenService({ secret: TEST_SECRET, ttlSec: 3600 });
    const users = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const { address } = newAccount();
        return { address, token: (await tokens.issue(address)).token };
      }),
    );
    const clients = users.map((u) =>
      createMessagingClient({
        url: t.url,
        token: u.token,
        reconnectPolicy: policy,
        ackTimeoutMs: 2_000,
        sendAttempts: 1_000,
      }),
    );
    // what each app saw: content → times shown
    const shown = new Map<string, number>();
    let rawReceives = 0;
    clients.forEach((c) => {
      c.on('message', (m) => shown.set(m.content, (shown.get(m.content) ?? 0) + 1));
      c.socket.on('message:receive', () => {
        rawReceives++;
      });
    });
    await waitFor(() => clients.every((c) => c.state === 'open'), {
      timeoutMs: 20_000,
      what: 'clients open',
    });

    let kills = 0;
    let rounds = 0;
    let sending = true;
    const killer = (async () => {
      while (sending) {
        await new Promise((r) => setTimeout(r, KILL_EVERY_MS));
        if (!sending) break;
        rounds++;
        const open = clients.filter((c) => c.state === 'open');
        const n = Math.max(1, Math.round(CLIENTS * KILL_SHARE));
        for (let i = 0; i < n && open.length > 0; i++) {
          const [victim] = open.splice(Math.floor(Math.random() * open.length), 1);
          if (victim && killTransport(victim)) kills++;
        }
      }
    })();

    const acked = new Set<string>();
    const failed: string[] = [];
    const perClient = Math.ceil(MESSAGES / CLIENTS);
    const started = Date.now();
    await Promise.all(
      clients.map(async (c, i) => {
        for (let k = 0; k < perClient && i * perClient + k < MESSAGES; k++) {
          let j = Math.floor(Math.random() * (CLIENTS - 1));
          if (j >= i) j++;
          const content = `dm:${i}:${k}`;
          try {
            await c.send(users[j]!.address, content);
            acked.add(content);
          } catch (error) {
            failed.push(`${content}: ${(error as Error).message}`);
          }
        }
      }),
    );
    sending = false;
    await killer;
    const sendMs = Date.now() - started;
    await waitFor(() => [...acked].every((m) => shown.has(m)), {
      timeoutMs: 30_000,
      what: 'every acknowledged message shown',
    }).catch(() => undefined);
    // a moment more for late re-deliveries: connections cut before their acks left
    await waitFor(() => clients.every((c) => c.state === 'open'), { timeoutMs: 10_000, what: 'all back' });
    const lost = [...acked].filter((m) => !shown.has(m)).length;
    const duplicates = [...shown.values()].reduce((a, n) => a + (n - 1), 0);
    for (const c of clients) c.close();

    recordFigure('random-disconnects', {
      scenario: 'Random client disconnects during direct messages',
      reference:
        'Socket.IO delivery is at most once by default; with acks + retries + client dedupe (its documented recipe) at least once, shown once',
      measured: `${MESSAGES} DMs among ${CLIENTS} SDK messaging clients (Redis inboxes) in ${sendMs} ms; ${rounds} kill rounds of ${Math.round(KILL_SHARE * 100)} % of the sockets (${kills} TCP connections destroyed); acknowledged ${acked.size}, failed sends ${failed.length}, lost ${lost}, duplicates shown to the app ${duplicates} (raw re-deliveries the SDK dropped: ${rawReceives - shown.size})`,
      numbers: {
        messages: MESSAGES,
        clients: CLIENTS,
        killRounds: rounds,
        kills,
        acked: acked.size,
        failedSends: failed.length,
        lost,
        duplicatesShown: duplicates,
        rawRedeliveries: rawReceives - shown.size,
        sendMs,
      },
    });
    expect(failed).toEqual([]);
    expect(kills).toBeGreaterThan(0);
    expect(acked.size).toBe(MESSAGES);
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
  }, 240_000);
});
