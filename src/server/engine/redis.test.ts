import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
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
