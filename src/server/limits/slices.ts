import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';

/**
 * How many items one slice of a loop over every connection handles at most before it
 * yields to the event loop.
 */
export const SLICE = 256;

/**
 * How long one slice may run before it yields, whatever its count: an item's cost varies
 * (a ping is a write to its socket, ≈ 20-40 µs on a busy 2-core machine), and 256 of them
 * held the relays for 10-20 ms per slice, ≈ 100 ms in all for a sweep over 2,000
 * connections (measured with the bench's stall log).
 */
export const SLICE_MS = 0.5;

/**
 * How long one slice of a fan-out to more than SLICE sockets (pulse metrics, a lane's
 * page) may run before it yields, besides its SLICE sends: a send is 10-18 µs here, so 256
 * of them held relays for 3-5 ms. Measured with relays at 2k msg/s on the same node while
 * metrics go to 10,000 dashboards every second (six alternated runs each): relay p99
 * 10.7-21.3 ms with 256 sends a slice, 6.7-13.8 ms with 1 ms slices; the last dashboard
 * served 0.94-1.23× after raw `ws` against 1.03-1.21×. 0.5 ms slices cost the last
 * dashboard 1.14-1.36×. Smaller fan-outs still go out whole: with every fan-out timed, 500
 * updates/s to 100 dashboards (near the core's limit) queued, newer updates replaced
 * queued ones and dashboards got 62 % of them.
 */
export const FANOUT_SLICE_MS = 1;

/**
 * Runs `fn` on each item, yielding to the event loop after every `size` items or
 * `budgetMs` of work (the clock is read every 16 items), so a loop over every connection
 * never blocks the relays in between for long. With `spreadMs`, the slices are paced to
 * take about that long in all (a timer between slices instead of setImmediate): a
 * heartbeat's 2,000 pings are 2,000 socket writes, as much work as 2,000 relayed frames,
 * and sent as fast as the loop allows they were a burst of load that every relay waited
 * behind (≈ 50 ms of CPU in ≈ 100 ms, measured). Items added or removed while it runs
 * follow the iterator's rules (Map and Set: removed ones are skipped, added ones are
 * visited).
 *
 * @example
 * await inSlices(connections, SLICE, (c) => c.ping(), { spreadMs: 5_000 });
 */
export async function inSlices<T>(
  items: Iterable<T> & ({ size: number } | { length: number }),
  size: number,
  fn: (item: T) => void,
  opts: { budgetMs?: number; spreadMs?: number } = {},
): Promise<void> {
  const budgetMs = opts.budgetMs ?? SLICE_MS;
  const count = 'size' in items ? items.size : items.length;
  // the pause after each full slice; slices the budget cut short pause in proportion
  const gapPerItem = opts.spreadMs && count > 0 ? opts.spreadMs / count : 0;
  let n = 0;
  let start = performance.now();
  for (const item of items) {
    fn(item);
    n++;
    if (n >= size || ((n & 15) === 0 && performance.now() - start >= budgetMs)) {
      const gap = gapPerItem * n - (performance.now() - start);
      // unref: a paced walk never keeps a process that is shutting down alive
      if (gap >= 1) await sleep(gap, undefined, { ref: false });
      else await nextTurn();
      n = 0;
      start = performance.now();
    }
  }
}
