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
