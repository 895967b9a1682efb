import type { Engine } from '../engine/types.js';

/** A lock holder that dies is forgotten after this; a join holds it for two engine calls. */
const LOCK_TTL_MS = 5_000;
/** How long a join waits for a busy room before answering `unavailable`. */
const LOCK_WAIT_MS = 3_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` while holding the join lock of one room, across every node (SET NX PX in the
 * engine). Why a lock: the room-size check is "count, then add"; two nodes doing it at once
 * would both see room for one more. Adding first and backing out when over the limit keeps
 * the bound too, but a burst of joiners then all back out and nobody gets in. Joins are rare
 * next to relays, so two more round trips per join buy a bound that is exact and fair.
 *
 * Resolves `{ ok: false }` when the lock stays busy for LOCK_WAIT_MS.
 */
export async function withJoinLock<T>(
  engine: Engine,
  roomId: string,
  holder: string,
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false }> {
  const key = `signaling:join-lock:${roomId}`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  let delay = 2;
  while (!(await engine.setIfAbsent(key, holder, LOCK_TTL_MS))) {
    if (Date.now() > deadline) return { ok: false };
    // full jitter, so joiners that collided do not collide again in step
    await sleep(Math.random() * delay);
    delay = Math.min(delay * 2, 50);
  }
  try {
    return { ok: true, value: await fn() };
  } finally {
    // held for milliseconds, far below LOCK_TTL_MS: the key is still ours to delete
    await engine.del(key);
  }
}
