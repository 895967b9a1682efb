import { describe, expect, it } from 'vitest';
import type { LaneName } from '../../protocol/lanes.js';
import { createMemoryEngine } from '../engine/memory.js';
import { SLICE } from '../limits/slices.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { createLaneFeeds, type FeedSubscriber } from './feed.js';
import { createLaneHistory, type LanePage } from './history.js';

// A lane's live feed with more subscribers than one slice: the page goes out in slices that
// yield to the event loop, and every subscriber still gets every page once, in order.
describe('lane feed fan-out', () => {
  it('delivers a page to thousands of subscribers in slices, in order, each page once', async () => {
    const engine = createMemoryEngine();
    const history = createLaneHistory({
      engine,
      maxLen: 1000,
      ttlMs: 60_000,
      maxEventBytes: 64 * 1024,
      now: Date.now,
      onNotifyError: () => {},
    });
    const feeds = createLaneFeeds({
      engine,
      history,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaultMetrics: false }),
      now: Date.now,
    });
    const lane: LaneName = 'catalog';
    let turns = 0;
    const got: { ids: string[]; turns: number[] }[] = [];
    const subscribers: FeedSubscriber[] = Array.from({ length: 4 * SLICE + 10 }, (_, i) => {
      got[i] = { ids: [], turns: [] };
      return {
        deliver(_lane: LaneName, page: LanePage) {
          // a socket write takes time: 0.01 ms each, ≈ 10 ms for the whole page
          const until = performance.now() + 0.01;
          while (performance.now() < until);
          for (const e of page.entries) got[i]!.ids.push(e.id);
          got[i]!.turns.push(turns);
        },
      };
    });
    for (const s of subscribers) await feeds.acquire('s1', lane, s);
    // counts the event-loop turns that ran while the pages went out
    let counting = true;
    const tick = () => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const published: string[] = [];
    for (let n = 0; n < 3; n++) {
      const { ids } = await history.append('s1', lane, [{ type: 'update', id: `ev-${n}`, data: { n } }]);
      published.push(...ids);
    }
    const deadline = performance.now() + 10_000;
    while (got.some((g) => g.ids.length < published.length) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    counting = false;
    for (const g of got) expect(g.ids).toEqual(published);
    // the first and the last subscriber got a page in different turns of the loop
    const first = got[0]!.turns[0]!;
    const last = got.at(-1)!.turns[0]!;
    expect(last).toBeGreaterThan(first);
    await feeds.close();
  });
});
