import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { engineContract } from './engine.contract.js';
import { createRedisEngine } from './redis.js';

const url = process.env.P3_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

engineContract('redis', async (clock) => {
  const keyPrefix = `p3test:${randomUUID()}:`;
  const a = createRedisEngine({ url, keyPrefix, now: clock.now });
  const b = createRedisEngine({ url, keyPrefix, now: clock.now });
  return {
    a,
    b,
    cleanup: async () => {
      const r = new Redis(url);
      const keys = await r.keys(`${keyPrefix}*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
    },
  };
});

describe('redis engine scripts', () => {
  it('runs its Lua scripts by SHA and loads them again when Redis lost its script cache', async () => {
    const keyPrefix = `p3test:${randomUUID()}:`;
    const engine = createRedisEngine({ url, keyPrefix });
    const r = new Redis(url);
    try {
      const first = await engine.streamAppend('s', 'one');
      // what a Redis restart (or a failover to a replica without the scripts) does
      await r.script('FLUSH');
      const second = await engine.streamAppend('s', 'two');
      expect(second > first).toBe(true);
      expect((await engine.streamRange('s', '0-0', 10)).map((e) => e.data)).toEqual(['one', 'two']);
      expect(await engine.streamDelete('s', [first])).toBe(1);
    } finally {
      const keys = await r.keys(`${keyPrefix}*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
      await engine.close();
    }
  });
});
