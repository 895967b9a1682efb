import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startServer, type TestServer } from './helpers/server.js';

describe('HTTP core', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ allowedOrigins: ['https://app.example'], maxBodyBytes: 2048 });
  });
  afterAll(() => t.close());

  it('serves /healthz, /readyz and Prometheus /metrics with process and event-loop metrics', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, engine: { kind: 'memory', ok: true } });
    const metrics = await fetch(`${t.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await metrics.text();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(text).toContain('p3_http_requests_total');
  });

  it('answers unknown paths 404 and wrong methods 405 with JSON error bodies', async () => {
    const nf = await fetch(`${t.url}/nope`);
    expect(nf.status).toBe(404);
    expect(await nf.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    const na = await fetch(`${t.url}/v1/auth/nonce`, { method: 'POST' });
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('GET');
    expect(((await na.json()) as any).error.code).toBe('method_not_allowed');
  });

  it('refuses bodies over the limit with 413 and wrong content types with 415', async () => {
    const big = await fetch(`${t.url}/v1/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'x'.repeat(5000), signature: '0x' }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as any).error.code).toBe('payload_too_large');
    const text = await fetch(`${t.url}/v1/auth/verify`, { method: 'POST', body: 'hello' });
    expect(text.status).toBe(415);
  });

  it('serves CORS for allowed origins and refuses others', async () => {
    const ok = await fetch(`${t.url}/healthz`, { headers: { origin: 'https://app.example' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const pre = await fetch(`${t.url}/v1/auth/verify`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    for (const origin of [
      'https://evil.example',
      'null',
      'https://app.example.evil.com',
      'http://app.example',
    ]) {
      const res = await fetch(`${t.url}/healthz`, { headers: { origin } });
      expect(res.status, origin).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    // the server's own origin is always allowed
    const own = await fetch(`${t.url}/healthz`, { headers: { origin: t.url } });
    expect(own.status).toBe(200);
  });

  it('refuses WebSocket upgrades to unknown paths with 404', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${t.wsUrl}/nowhere`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(404);
  });
});
