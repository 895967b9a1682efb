import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawWs } from '../helpers/rawws.js';
import { startServer, type TestServer, waitFor } from '../helpers/server.js';
import { signIn } from '../helpers/siwe.js';
import { recordFigure, scale } from './figures.js';

/**
 * Connection floods from one address: sockets that never authenticate are capped per
 * IP (P3_MAX_PENDING_PER_IP) and closed at the auth deadline (1008); an existing,
 * authenticated session keeps working throughout.
 */
describe('connection flood of never-authenticating sockets', () => {
  let t: TestServer;
  const PENDING_CAP = 20;
  const AUTH_DEADLINE = 1_000;
  beforeAll(async () => {
    t = await startServer({ maxUnauthenticatedPerIp: PENDING_CAP, authTimeoutMs: AUTH_DEADLINE });
  });
  afterAll(() => t.close());

  it('caps pending sockets, closes them at the deadline and keeps the existing session alive', async () => {
    const { token } = await signIn(t.url);
    const victim = await RawWs.open(t.port, `/signaling?token=${token}`);
    await victim.waitText((x) => x.includes('auth_ok'));

    const attempts = scale(200, 2_000);
    const opened: RawWs[] = [];
    let refused = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: attempts }, async () => {
        try {
          opened.push(await RawWs.open(t.port, '/signaling'));
        } catch (error) {
          expect((error as Error).message).toMatch(/429|503/);
          refused++;
        }
      }),
    );
    // the victim is served while the flood sits there
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const before = victim.texts.length;
      victim.sendText('{"type":"ping"}');
      await waitFor(() => victim.texts.slice(before).some((x) => x.includes('pong')));
      rtts.push(Date.now() - t0);
    }
    const codes = await Promise.all(opened.map((ws) => ws.waitClose(AUTH_DEADLINE + 10_000)));
    // these clients never answer the close frame: the server drops them after its handshake timeout
    const closedBy = Date.now() - started;
    const at1008 = codes.filter((c) => c === 1008).length;
    recordFigure('security', {
      scenario: 'Connection flood, never-authenticating sockets (one IP)',
      reference: 'Centrifugo/Socket.IO: connect timeout closes unauthenticated clients',
      measured: `${attempts} attempts: ${opened.length} admitted (cap ${PENDING_CAP}), ${refused} refused, all admitted closed with 1008 by ${closedBy} ms (deadline ${AUTH_DEADLINE} ms); existing session ping worst ${Math.max(...rtts)} ms`,
      numbers: {
        attempts,
        admitted: opened.length,
        refused,
        closedByMs: closedBy,
        victimWorstMs: Math.max(...rtts),
      },
    });
    expect(opened.length).toBeLessThanOrEqual(PENDING_CAP);
    expect(refused).toBe(attempts - opened.length);
    expect(at1008).toBe(opened.length);
    expect(victim.closed).toBe(false);
    // once the flood is gone, new clients are admitted again
    const later = await waitFor(() => RawWs.open(t.port, `/signaling?token=${token}`).catch(() => null), {
      timeoutMs: 10_000,
      what: 'a new client to be admitted',
    });
    await later.waitText((x) => x.includes('auth_ok'));
    later.destroy();
    victim.destroy();
  });
});
