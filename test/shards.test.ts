import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectMessage } from '../src/protocol/messaging.js';
import { atLeast, type Client, call, closeAll, connect, newUser, next, record } from './helpers/messaging.js';
import { type ServerProcess, spawnServer } from './helpers/process.js';
import { REDIS_URL, waitFor } from './helpers/server.js';

// P3_SHARDS=2: one port, two worker processes behind the sticky primary.
describe('P3_SHARDS=2', () => {
  let proc: ServerProcess;
  const open: Client[] = [];

  beforeAll(async () => {
    proc = await spawnServer({ P3_SHARDS: '2', REDIS_URL, LOG_LEVEL: 'debug' }, 45_000);
  });
  afterAll(async () => {
    closeAll(...open);
    await proc?.stop('SIGKILL');
  });

  const workerPids = () => {
    const pids = new Set<number>();
    for (const line of proc.output().split('\n')) {
      if (!line.includes('messaging socket connected')) continue;
      try {
        pids.add(JSON.parse(line).pid);
      } catch {
        // a line split across chunks
      }
    }
    return pids;
  };

  it('serves one port; long-polling sessions stick to their worker; clients on both workers message each other', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => newUser(proc.url)));
    // default transports: polling first, then the upgrade, every request through the primary
    const clients: Client[] = [];
    const inboxes: DirectMessage[][] = [];
    for (const u of users) {
      const c = await connect(proc.url, u.token, {}, (s) => {
        inboxes.push(record(s, 'message:receive'));
      });
      clients.push(c);
      open.push(c);
    }
    await waitFor(() => workerPids().size >= 2, { what: 'clients on both workers', timeoutMs: 15_000 });
    expect(workerPids().size).toBe(2);
    // everyone sends to everyone: whichever worker holds each party
    const acks = await Promise.all(
      clients.flatMap((c, i) =>
        users.map((u, j) =>
          i === j ? undefined : call(c, 'message:send', { to: u.address, content: `${i}->${j}` }),
        ),
      ),
    );
    expect(acks.filter((a) => a && !a.ok)).toEqual([]);
    for (const inbox of inboxes) await atLeast(inbox, users.length - 1, 'messages');
    // polling-only clients work too (every request must reach the same worker)
    const p = await connect(proc.url, users[0]!.token, { transports: ['polling'] });
    open.push(p);
    const got = next(p, 'message:receive', (m) => m.content === 'via polling');
    await call(clients[1]!, 'message:send', { to: users[0]!.address, content: 'via polling' });
    expect((await got).from).toBe(users[1]!.address);
    expect(await (await fetch(`${proc.url}/readyz`)).json()).toMatchObject({ ok: true });
  });

  it('stops every worker and exits 0 on SIGTERM', async () => {
    closeAll(...open);
    expect(await proc.stop('SIGTERM')).toBe(0);
  });
});
