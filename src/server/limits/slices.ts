import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * How many items one slice of a loop over every connection handles before it yields to
 * the event loop. About a millisecond of work: a sweep or a fan-out over 10,000 sockets
 * then adds at most that to the latency of a frame that arrives meanwhile.
 */
export const SLICE = 256;

/**
 * Runs `fn` on each item, yielding to the event loop (setImmediate) after every `size`
 * items, so a loop over every connection never blocks the relays in between. Items added
 * or removed while it runs follow the iterator's rules (Map and Set: removed ones are
 * skipped, added ones are visited).
 *
 * @example
 * await inSlices(connections, SLICE, (c) => c.ping());
 */
export async function inSlices<T>(items: Iterable<T>, size: number, fn: (item: T) => void): Promise<void> {
  let n = 0;
  for (const item of items) {
    fn(item);
    if (++n % size === 0) await nextTurn();
  }
}
