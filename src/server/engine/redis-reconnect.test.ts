import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../../test/helpers/redis-server.js';
import { waitFor } from './engine.contract.js';
import { createRedisEngine } from './redis.js';

describe('redis engine across a Redis restart', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer({ aof: true });
  });
  afterAll(() => redis.close());

  it('reconnects, restores subscriptions, tells listeners, and keeps AOF-persisted data', async () => {
    const engine = createRedisEngine({ url: redis.url });
    const got: string[] = [];
    await engine.subscribe('ch:restart', (m) => got.push(m));
    let reconnects = 0;
    engine.onReconnect(() => reconnects++);
    await engine.set('survives', 'yes');
    await redis.stop('SIGTERM');
    await redis.start();
    await waitFor(() => reconnects > 0, 15_000);
    expect(await engine.get('survives')).toBe('yes');
    await engine.publish('ch:restart', 'after');
    await waitFor(() => got.includes('after'), 5_000);
    await engine.close();
  }, 60_000);
});

describe('redis engine stream markers', () => {
  it('a delete keeps the trim marker no longer-lived than its stream', async () => {
    const { Redis } = await import('ioredis');
    const url = process.env.P3_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `p3test:${Math.random().toString(36).slice(2)}:`;
    const engine = createRedisEngine({ url, keyPrefix: prefix });
    const id = await engine.streamAppend('s', 'x', { expireMs: 60_000 });
    await engine.streamAppend('s', 'y', { expireMs: 60_000 });
    expect(await engine.streamDelete('s', [id])).toBe(1);
    expect((await engine.streamInfo('s')).maxDeletedId).toBe(id);
    const r = new Redis(url);
    const ttl = await r.pttl(`${prefix}s:trimmed`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await r.del(`${prefix}s`, `${prefix}s:trimmed`);
    await r.quit();
    await engine.close();
  });
});
