import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryEngine } from '../src/server/engine/memory.js';
import { startServer, type TestServer, waitFor } from './helpers/server.js';
import { connectPeer, join } from './helpers/signaling.js';

// An engine that stops answering (a partitioned Redis with no RST) must not stop the
// heartbeat: pings, dead-peer detection and token expiry run apart from the lease sweep.
describe('signaling heartbeat with a hanging engine', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
  });

  it('keeps pinging while the membership sweep waits on the engine', async () => {
    const engine = createMemoryEngine();
    let hang = false;
    const leaseAdd = engine.leaseAdd.bind(engine);
    engine.leaseAdd = (...args) => (hang ? new Promise<void>(() => {}) : leaseAdd(...args));
    t = await startServer({ heartbeatIntervalMs: 200, heartbeatTimeoutMs: 600 }, { engine });
    const { token } = await t.server.auth.tokens.issue(`0x${'ab'.repeat(20)}`);
    const c = await connectPeer(t, { token });
    expect((await join(c, 'hang-room')).type).toBe('joined');
    hang = true;
    let pings = 0;
    c.ws.on('ping', () => pings++);
    // 5 intervals' worth of pings although every sweep since `hang` is stuck on the engine
    await waitFor(() => pings >= 5, { what: 'pings while the engine hangs', timeoutMs: 10_000 });
    expect(c.isOpen()).toBe(true);
    await c.close();
  });
});
