import { randomBytes } from 'node:crypto';
import { getAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectMessage } from '../src/protocol/messaging.js';
import { createTokenService } from '../src/server/auth/tokens.js';
import { createMemoryEngine } from '../src/server/engine/index.js';
import { type Client, closeAll, connect } from './helpers/messaging.js';
import { startServer, TEST_SECRET, type TestServer, waitFor } from './helpers/server.js';

// When the engine's pub/sub comes back, notices sent meanwhile are gone: every device reads
// its inbox again. Every node does it at that moment, so the reads go a bounded number at a
// time, not one per device at once.
describe('inbox resync after an engine reconnect', () => {
  const engine = createMemoryEngine();
  let reconnected: (() => void) | undefined;
  engine.onReconnect = (listener) => {
    reconnected = listener;
    return () => {};
  };
  let inFlight = 0;
  let peak = 0;
  const streamRange = engine.streamRange.bind(engine);
  engine.streamRange = async (...args) => {
    peak = Math.max(peak, ++inFlight);
    try {
      return await streamRange(...args);
    } finally {
      inFlight--;
    }
  };
  let srv: TestServer;
  const clients: Client[] = [];
  beforeAll(async () => {
    srv = await startServer({ rateLimit: 10_000, rateBurst: 10_000 }, { engine });
  });
  afterAll(async () => {
    closeAll(...clients);
    await srv.close();
  });

  it('drains every device again, at most 256 inbox reads at a time, and each gets what it missed', async () => {
    const tokens = createTokenService({ secret: TEST_SECRET, ttlSec: 3600 });
    const n = 300;
    const addresses = Array.from({ length: n }, () => getAddress(`0x${randomBytes(20).toString('hex')}`));
    const got = new Map<string, DirectMessage[]>(addresses.map((a) => [a, []]));
    for (let i = 0; i < n; i += 50) {
      clients.push(
        ...(await Promise.all(
          addresses.slice(i, i + 50).map(async (a) =>
            connect(srv.url, (await tokens.issue(a)).token, {}, (c) => {
              c.on('message:receive', (m) => got.get(a)!.push(m));
            }),
          ),
        )),
      );
    }
    expect(reconnected).toBeDefined();
    // messages stored while the notices were lost: in each inbox, announced to nobody
    const from = getAddress(`0x${randomBytes(20).toString('hex')}`);
    for (const a of addresses) {
      const stored = { from, to: a, content: `missed by ${a}`, encrypted: false, timestamp: Date.now() };
      await engine.streamAppend(`inbox:${a}`, JSON.stringify(stored), { maxLen: 1000 });
    }
    peak = 0;
    reconnected!();
    await waitFor(() => addresses.every((a) => got.get(a)!.length === 1), {
      timeoutMs: 20_000,
      what: 'every missed message',
    });
    for (const a of addresses) expect(got.get(a)!.map((m) => m.content)).toEqual([`missed by ${a}`]);
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(256);
  });
});
