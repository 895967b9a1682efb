import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryEngine } from '../src/server/engine/memory.js';
import { createRealtimeServer, type RealtimeServer } from '../src/server/index.js';
import { TEST_DOMAIN, TEST_SECRET, waitFor } from './helpers/server.js';
import { connectPeer, join } from './helpers/signaling.js';

// An engine that stops answering (a partitioned Redis with no RST) must not stop the
// heartbeat: pings, dead-peer detection and token expiry run apart from the lease sweep.
describe('signaling heartbeat with a hanging engine', () => {
  let server: RealtimeServer | undefined;
  afterEach(async () => {
    await server?.close({ drainMs: 100 });
  });

  it('keeps pinging while the membership sweep waits on the engine', async () => {
    const engine = createMemoryEngine();
    let hang = false;
    const leaseAdd = engine.leaseAdd.bind(engine);
    engine.leaseAdd = (...args) => (hang ? new Promise<void>(() => {}) : leaseAdd(...args));
    server = await createRealtimeServer({
      env: {},
      engine,
      config: {
        port: 0,
        host: '127.0.0.1',
        logLevel: 'silent',
        siweDomain: TEST_DOMAIN,
        authSecret: TEST_SECRET,
        heartbeatIntervalMs: 200,
        heartbeatTimeoutMs: 600,
      },
    });
    const { port } = await server.listen();
    const url = `http://127.0.0.1:${port}`;
    const { token } = await server.auth.tokens.issue(`0x${'ab'.repeat(20)}`);
    const c = await connectPeer({ url, wsUrl: `ws://127.0.0.1:${port}` }, { token });
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
