import type { LaneName } from '../../protocol/lanes.js';
import { compareStreamIds, type Engine } from '../engine/types.js';
import { FANOUT_SLICE_MS, inSlices, SLICE } from '../limits/slices.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { type LaneHistory, type LanePage, laneChannel, laneKey, PAGE } from './history.js';

/** Receives the live events of the lanes it subscribed to, in id order, each once. */
export interface FeedSubscriber {
  deliver(lane: LaneName, page: LanePage): void;
}

interface Feed {
  sid: string;
  lane: LaneName;
  subscribers: Set<FeedSubscriber>;
  /** Greatest id read from the stream and handed to the subscribers. */
  position: string;
  ready: Promise<void>;
  initialised: boolean;
  reading: boolean;
  /** A notification arrived while reading (or before initialisation): read again. */
  dirty: boolean;
  closed: boolean;
  lastReadAt: number;
  unsubscribe: (() => Promise<void>) | undefined;
}

export interface LaneFeeds {
  /**
   * Adds a subscriber to a lane, subscribing this node to it first if needed. Resolves
   * with the feed's position: every event after it reaches the subscriber.
   */
  acquire(sid: string, lane: LaneName, subscriber: FeedSubscriber): Promise<string>;
  release(sid: string, lane: LaneName, subscriber: FeedSubscriber): void;
  /**
   * Reads every lane not read for `idleMs`. Pub/sub is at most once: a notification lost
   * while Redis reconnects would otherwise hold an event back until the next publish.
   */
  sweep(idleMs: number): void;
  close(): Promise<void>;
}

/**
 * One engine subscription per lane per node, shared by every stream of that lane here.
 * The channel only says "appended up to X"; the feed then reads the stream after its
 * position. Reading from the stream, not trusting message order, is what keeps delivery
 * gap-free: two publishers' notifications may arrive out of order, the stream never is.
 * Notifications that arrive during a read coalesce into one more read.
 */
export function createLaneFeeds(options: {
  engine: Engine;
  history: LaneHistory;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
}): LaneFeeds {
  const { engine, history, logger, now } = options;
  const feeds = new Map<string, Feed>();
  options.metrics.gauge('p3_lanes_feeds', 'Lanes this node is subscribed to', [], function () {
    this.set(feeds.size);
  });
  const reads = options.metrics.counter('p3_lanes_feed_reads_total', 'History reads by live feeds', [
    'result',
  ]);

  async function pump(feed: Feed): Promise<void> {
    if (feed.reading || feed.closed) return;
    feed.reading = true;
    try {
      for (;;) {
        feed.dirty = false;
        feed.lastReadAt = now();
        const entries = await history.range(feed.sid, feed.lane, feed.position, PAGE);
        if (feed.closed) return;
        reads.inc({ result: 'ok' });
        if (entries.length > 0) {
          feed.position = entries.at(-1)!.id;
          const page: LanePage = { entries };
          const lane = feed.lane;
          // one stream's failure must not cost the others the page (the position has moved)
          const deliver = (s: FeedSubscriber) => {
            try {
              s.deliver(lane, page);
            } catch (error) {
              logger.warn({ err: (error as Error).message, lane }, 'lane delivery to a stream failed');
            }
          };
          if (feed.subscribers.size <= SLICE) for (const s of feed.subscribers) deliver(s);
          // thousands of streams: in slices that yield, so relays and other lanes are not
          // held up for the whole fan-out; the next page waits for this one (order kept).
          // A stream added meanwhile gets the page too and skips what its replay covered.
          else await inSlices(feed.subscribers, SLICE, deliver, { budgetMs: FANOUT_SLICE_MS });
          if (feed.closed) return;
        }
        if (entries.length < PAGE && !feed.dirty) return;
      }
    } catch (error) {
      reads.inc({ result: 'error' });
      logger.warn({ err: (error as Error).message, lane: feed.lane }, 'lane feed read failed; retrying');
      const t = setTimeout(() => void pump(feed), 500);
      t.unref();
    } finally {
      feed.reading = false;
    }
  }

  function notify(feed: Feed, lastId: string) {
    if (feed.closed) return;
    if (!feed.initialised || feed.reading) {
      feed.dirty = true;
      return;
    }
    if (compareStreamIds(lastId, feed.position) <= 0) return;
    void pump(feed);
  }

  function open(sid: string, lane: LaneName): Feed {
    const feed: Feed = {
      sid,
      lane,
      subscribers: new Set(),
      position: '0-0',
      ready: Promise.resolve(),
      initialised: false,
      reading: false,
      dirty: false,
      closed: false,
      lastReadAt: now(),
      unsubscribe: undefined,
    };
    feed.ready = (async () => {
      // subscribe first, then read the position: nothing appended in between is missed
      feed.unsubscribe = await engine.subscribe(laneChannel(sid, lane), (m) => notify(feed, m));
      const info = await engine.streamInfo(laneKey(sid, lane));
      feed.position = info.lastId ?? '0-0';
      feed.initialised = true;
      if (feed.dirty) void pump(feed);
    })();
    return feed;
  }

  function drop(key: string, feed: Feed) {
    feed.closed = true;
    if (feeds.get(key) === feed) feeds.delete(key);
    void feed.ready.then(
      () => feed.unsubscribe?.().catch(() => {}),
      () => {},
    );
  }

  return {
    async acquire(sid, lane, subscriber) {
      const key = `${sid}/${lane}`;
      let feed = feeds.get(key);
      if (!feed) {
        feed = open(sid, lane);
        feeds.set(key, feed);
      }
      feed.subscribers.add(subscriber);
      try {
        await feed.ready;
      } catch (error) {
        drop(key, feed);
        throw error;
      }
      return feed.position;
    },
    release(sid, lane, subscriber) {
      const key = `${sid}/${lane}`;
      const feed = feeds.get(key);
      if (!feed?.subscribers.delete(subscriber)) return;
      if (feed.subscribers.size === 0) drop(key, feed);
    },
    sweep(idleMs) {
      const before = now() - idleMs;
      for (const feed of feeds.values()) if (feed.initialised && feed.lastReadAt < before) void pump(feed);
    },
    async close() {
      for (const [key, feed] of [...feeds]) drop(key, feed);
    },
  };
}
