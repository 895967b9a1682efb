import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectMessage } from '../src/protocol/messaging.js';
import { type Client, call, closeAll, connect, newUser } from './helpers/messaging.js';
import { startServer, type TestServer, waitFor } from './helpers/server.js';

// An inbox larger than the per-socket send cap drains at the reader's pace: a reader that
// keeps reading gets everything and is not mistaken for a slow consumer.
describe('inbox drain against the send-buffer cap', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ sendBufferBytes: 256 * 1024, rateLimit: 10_000, rateBurst: 10_000 });
  });
  afterAll(() => srv.close());

  it('delivers 250 × 20 KB (5 MB in 3 pages, 20× the cap) to a reading device without dropping it', async () => {
    const alice = await newUser(srv.url);
    const bob = await newUser(srv.url);
    const a = await connect(srv.url, alice.token);
    const content = 'x'.repeat(20_000);
    for (let i = 0; i < 250; i++) {
      const ack = await call(a, 'message:send', { to: bob.address, content: `${i}:${content}` });
      expect(ack.ok).toBe(true);
    }
    const got: DirectMessage[] = [];
    let disconnected = false;
    const b: Client = await connect(srv.url, bob.token, {}, (s) => {
      s.on('message:receive', (m) => got.push(m));
      s.on('disconnect', () => {
        disconnected = true;
      });
    });
    await waitFor(() => got.length >= 250, { timeoutMs: 30_000, what: 'the whole inbox' });
    expect(got.map((m) => Number(m.content.split(':')[0]))).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(disconnected).toBe(false);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/p3_messaging_slow_consumers_total 0/);
    closeAll(a, b);
  });
});
