import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceState } from '../src/protocol/messaging.js';
import { type Client, call, closeAll, connect, newUser, record } from './helpers/messaging.js';
import { type ServerProcess, spawnServer } from './helpers/process.js';
import { REDIS_URL, startServer, type TestServer, waitFor } from './helpers/server.js';

// A messaging node process that dies without a goodbye (SIGKILL): its users go offline
// once its lease runs out, swept by the surviving node.
describe('messaging when a node process is killed', () => {
  let survivor: TestServer;
  let victim: ServerProcess;
  const open: Client[] = [];

  beforeAll(async () => {
    [survivor, victim] = await Promise.all([
      startServer({ redisUrl: REDIS_URL, presenceLeaseMs: 600 }),
      spawnServer({ REDIS_URL, P3_PRESENCE_LEASE: '600' }),
    ]);
  });
  afterAll(async () => {
    closeAll(...open);
    await Promise.all([survivor?.close(), victim?.stop('SIGKILL')]);
  });

  it('takes the users of a killed node offline with lastSeen; messages to them wait in the inbox', async () => {
    const [watcher, bob, alice] = await Promise.all([
      newUser(survivor.url),
      newUser(survivor.url),
      newUser(survivor.url),
    ]);
    const w = await connect(survivor.url, watcher.token);
    open.push(w);
    const updates: PresenceState[] = record(w, 'presence:update');
    await call(w, 'presence:subscribe', { addresses: [bob.address] });
    const b = await connect(victim.url, bob.token, { reconnection: false });
    open.push(b);
    await waitFor(() => updates.some((u) => u.status === 'online'), { what: 'bob online' });
    const killedAt = Date.now();
    expect(await victim.stop('SIGKILL')).toBe('SIGKILL');
    await waitFor(() => updates.some((u) => u.status === 'offline'), {
      what: 'bob offline',
      timeoutMs: 15_000,
    });
    const offline = updates.find((u) => u.status === 'offline')!;
    expect(offline.lastSeen).toBeGreaterThanOrEqual(killedAt);
    // a message sent while bob is away reaches him when he comes back on the survivor
    const a = await connect(survivor.url, alice.token);
    open.push(a);
    const sent = await call(a, 'message:send', { to: bob.address, content: 'while you were out' });
    let delivered = false;
    const back = await connect(survivor.url, bob.token, {}, (c) => {
      c.on('message:receive', (m) => {
        if (m.id === sent.id) delivered = true;
      });
    });
    open.push(back);
    await waitFor(() => delivered, { what: 'the inbox message' });
    await waitFor(() => updates.filter((u) => u.status === 'online').length >= 2, {
      what: 'bob online again',
    });
  });
});
