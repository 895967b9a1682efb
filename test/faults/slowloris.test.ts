import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer, waitFor } from '../helpers/server.js';
import { recordFigure, scale } from './figures.js';

/**
 * Slowloris: many connections trickle request headers one byte at a time. They must be
 * cut at P3_HEADERS_TIMEOUT (+ the 1 s check interval) while other clients are served.
 */
describe('slowloris on the HTTP endpoints', () => {
  let t: TestServer;
  const HEADERS_TIMEOUT = 1_000;
  beforeAll(async () => {
    t = await startServer({ headersTimeoutMs: HEADERS_TIMEOUT });
  });
  afterAll(() => t.close());

  it('cuts trickling connections at the headers deadline and keeps serving others', async () => {
    const n = scale(100, 500);
    const closedAfter: number[] = [];
    const sockets: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    const start = Date.now();
    for (let i = 0; i < n; i++) {
      const s = connect({ host: '127.0.0.1', port: t.port });
      s.on('error', () => {});
      s.resume();
      s.on('close', () => closedAfter.push(Date.now() - start));
      s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      timers.push(
        setInterval(() => {
          if (!s.destroyed) s.write('X-Slow: a\r\n');
        }, 200),
      );
      sockets.push(s);
    }
    // a normal client is served while the trickling goes on
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      const res = await fetch(`${t.url}/healthz`);
      expect(res.status).toBe(200);
      latencies.push(Date.now() - t0);
    }
    await waitFor(() => closedAfter.length === n, {
      timeoutMs: 20_000,
      what: 'slow connections to close',
    }).catch((e) => {
      throw new Error(`${e.message}: ${closedAfter.length} of ${n} closed`);
    });
    for (const timer of timers) clearInterval(timer);
    const worst = Math.max(...closedAfter);
    const worstHealthy = Math.max(...latencies);
    recordFigure('http', {
      scenario: 'Slowloris on HTTP endpoints',
      reference: 'nginx client_header_timeout: slow headers are cut at the deadline',
      measured: `${n} trickling connections all cut by ${worst} ms (deadline ${HEADERS_TIMEOUT} ms + 1 s check); healthy requests served meanwhile, worst ${worstHealthy} ms`,
      numbers: { connections: n, worstCloseMs: worst, worstHealthyMs: worstHealthy },
    });
    expect(worst).toBeLessThan(HEADERS_TIMEOUT + 1_000 + 3_000);
    for (const s of sockets) s.destroy();
  });
});
