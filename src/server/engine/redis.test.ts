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
    await withEngine(async (engine, r) => {
      const first = await engine.streamAppend('s', 'one');
      // what a Redis restart (or a failover to a replica without the scripts) does
      await r.script('FLUSH');
      const second = await engine.streamAppend('s', 'two');
      expect(second > first).toBe(true);
      expect((await engine.streamRange('s', '0-0', 10)).map((e) => e.data)).toEqual(['one', 'two']);
      expect(await engine.streamDelete('s', [first])).toBe(1);
    });
  });

  it('fails only the item of a batch whose key cannot take it; the others are stored', async () => {
    await withEngine(async (engine, r, keyPrefix) => {
      await r.set(`${keyPrefix}not-a-stream`, 'x');
      const [bad, good, badTake, goodTake] = await Promise.allSettled([
        engine.streamAppend('not-a-stream', 'a'),
        engine.streamAppend('s', 'b'),
        engine.streamTake('not-a-stream', ['1-0']),
        engine.streamTake('s', ['0-1']),
      ]);
      expect(bad).toMatchObject({
        status: 'rejected',
        reason: { message: expect.stringMatching(/WRONGTYPE/) },
      });
      expect(good.status).toBe('fulfilled');
      expect(badTake).toMatchObject({
        status: 'rejected',
        reason: { message: expect.stringMatching(/WRONGTYPE/) },
      });
      expect(goodTake).toEqual({ status: 'fulfilled', value: [] });
      expect((await engine.streamRange('s', '0-0', 10)).map((e) => e.data)).toEqual(['b']);
    });
  });

  it('sends the appends of one turn as one command, and splits a turn that is too large', async () => {
    await withEngine(async (engine) => {
      const channel = `ch:split:${randomUUID()}`;
      const notices: string[] = [];
      const off = await engine.subscribe(channel, (m) => notices.push(m));
      let calls = 0;
      const evalsha = engine.client.evalsha.bind(engine.client);
      engine.client.evalsha = ((...args: Parameters<typeof evalsha>) => {
        calls++;
        return evalsha(...args);
      }) as typeof evalsha;
      const ids = await Promise.all(
        Array.from({ length: 50 }, (_, i) => engine.streamAppend(`s${i % 5}`, `v${i}`, { notify: channel })),
      );
      expect(calls).toBe(1);
      for (let s = 0; s < 5; s++) {
        const rows = await engine.streamRange(`s${s}`, '0-0', 100);
        expect(rows.map((e) => e.data)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i * 5 + s}`));
        expect(rows.map((e) => e.id)).toEqual(ids.filter((_, i) => i % 5 === s));
      }
      await waitFor(() => notices.length === 1);
      // 40 entries of 64 KiB: over the 1 MiB a call carries, so several calls and notices,
      // none of them near Redis's pub/sub output limit, every entry in order
      calls = 0;
      notices.length = 0;
      const big = 'x'.repeat(64 * 1024);
      const bigIds = await Promise.all(
        Array.from({ length: 40 }, (_, i) => engine.streamAppend('big', `${i}:${big}`, { notify: channel })),
      );
      expect(calls).toBeGreaterThan(1);
      await waitFor(() => notices.reduce((n, m) => n + (JSON.parse(m) as unknown[]).length, 0) === 40);
      expect(Math.max(...notices.map((m) => m.length))).toBeLessThan(2 * 1024 * 1024);
      const announced = notices.flatMap((m) => JSON.parse(m) as [string, string][]);
      expect(announced.map(([id]) => id)).toEqual(bigIds);
      expect(announced.map(([, d]) => d.slice(0, d.indexOf(':')))).toEqual(
        Array.from({ length: 40 }, (_, i) => String(i)),
      );
      await off();
    });
  });
});

/** An engine on a key prefix of its own, and a plain client; both closed and the keys gone after `body`. */
async function withEngine(
  body: (engine: ReturnType<typeof createRedisEngine>, r: Redis, keyPrefix: string) => Promise<void>,
): Promise<void> {
  const keyPrefix = `p3test:${randomUUID()}:`;
  const engine = createRedisEngine({ url, keyPrefix });
  const r = new Redis(url);
  try {
    await body(engine, r, keyPrefix);
  } finally {
    const keys = await r.keys(`${keyPrefix}*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
    await engine.close();
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
