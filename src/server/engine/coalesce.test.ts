import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { atEndOfTurn } from './batch.js';
import { coalesceWrites } from './coalesce.js';

const url = process.env.P3_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Counts the socket-level writes (each is one write/writev syscall at most). */
function countWrites(redis: Redis): () => number {
  type Fn = (...args: unknown[]) => unknown;
  const stream = (redis as unknown as { stream: Socket & { _write: Fn; _writev: Fn } }).stream;
  let n = 0;
  const write = stream._write;
  const writev = stream._writev;
  stream._write = function (...args: unknown[]) {
    n++;
    return write.apply(this, args);
  };
  stream._writev = function (...args: unknown[]) {
    n++;
    return writev.apply(this, args);
  };
  return () => n;
}

describe('coalesceWrites', () => {
  let redis: Redis | undefined;
  afterEach(() => redis?.disconnect());

  it('sends the commands of one turn in one socket write, replies in order, after reconnects too', async () => {
    redis = coalesceWrites(new Redis(url, { enableAutoPipelining: false }));
    await redis.ping();
    for (let round = 0; round < 2; round++) {
      const writes = countWrites(redis);
      // commands from separate callbacks of one turn, as socket reads of many clients are
      const replies = await new Promise<string[]>((resolve) => {
        const out: Promise<string>[] = [];
        let n = 0;
        for (let i = 0; i < 20; i++) {
          queueMicrotask(() => {
            out.push(redis!.echo(`m${i}`));
            if (++n === 20) resolve(Promise.all(out));
          });
        }
      });
      expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      expect(writes()).toBe(1);
      // a new connection (ioredis opens a new socket) is coalesced as well
      const back = new Promise((r) => redis!.once('ready', r));
      redis.disconnect(true);
      await back;
    }
  });

  it('a write made at the end of a turn (a batch flush) leaves in that turn, not the next', async () => {
    redis = coalesceWrites(new Redis(url, { enableAutoPipelining: false }));
    await redis.ping();
    const writes = countWrites(redis);
    let reply: Promise<string> | undefined;
    atEndOfTurn(() => {
      reply = redis!.echo('flushed');
    });
    // queued after the flush: the next check-phase callback of this same turn
    const seen = await new Promise<number>((resolve) => setImmediate(() => resolve(writes())));
    expect(seen).toBe(1);
    expect(await reply).toBe('flushed');
  });
});
