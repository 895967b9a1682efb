import type { Address } from '../../protocol/messaging.js';
import { TokenBucket } from '../limits/token-bucket.js';
import type { Metrics } from '../observability/metrics.js';
import { userRoom } from './delivery.js';
import type { MsgServer, MsgSocket } from './transport.js';

/** typing:start per second (and burst) one socket may send; the excess is dropped silently. */
const RATE = 2;
const BURST = 5;

/**
 * Typing indicators: volatile (dropped rather than queued for a slow or reconnecting
 * client), rate-limited per socket, and self-expiring: `isTyping: false` goes out
 * P3_TYPING_TIMEOUT after the last `typing:start`, on `typing:stop`, or when the typing
 * socket leaves. The expiry timer lives on the node of the typing socket; it is one
 * timer per (socket, conversation), bounded by `maxTimers`.
 */
export function createTyping(deps: {
  io: MsgServer;
  metrics: Metrics;
  now: () => number;
  timeoutMs: number;
  maxTimers: number;
}) {
  const { io, timeoutMs } = deps;
  const timers = new Map<string, Map<Address, NodeJS.Timeout>>();
  const buckets = new Map<string, TokenBucket>();
  let count = 0;
  const dropped = deps.metrics.counter('p3_messaging_typing_dropped_total', 'typing:start dropped', [
    'reason',
  ]);
  deps.metrics.gauge('p3_messaging_typing_timers', 'Typing indicators awaiting expiry', [], function () {
    this.set(count);
  });

  const indicate = (from: Address, to: Address, isTyping: boolean) => {
    // the recipient sees the direct conversation under the other party's address. Only
    // `true` is volatile: a dropped start is repeated by the typist, a dropped stop would
    // leave the indicator on
    const room = io.to(userRoom(to));
    (isTyping ? room.volatile : room).emit('typing:indicator', { from, conversationId: from, isTyping });
  };

  function clear(socketId: string, to: Address): boolean {
    const mine = timers.get(socketId);
    const t = mine?.get(to);
    if (!mine || !t) return false;
    clearTimeout(t);
    mine.delete(to);
    count--;
    if (mine.size === 0) timers.delete(socketId);
    return true;
  }

  return {
    start(socket: MsgSocket, to: Address) {
      const from = socket.data.address;
      if (to === from) return;
      let bucket = buckets.get(socket.id);
      if (!bucket) {
        bucket = new TokenBucket(RATE, BURST, deps.now);
        buckets.set(socket.id, bucket);
      }
      if (!bucket.take()) {
        dropped.inc({ reason: 'rate' });
        return;
      }
      const had = clear(socket.id, to);
      if (!had && count >= deps.maxTimers) {
        dropped.inc({ reason: 'capacity' });
        return;
      }
      let mine = timers.get(socket.id);
      if (!mine) {
        mine = new Map();
        timers.set(socket.id, mine);
      }
      const t = setTimeout(() => {
        if (clear(socket.id, to)) indicate(from, to, false);
      }, timeoutMs);
      t.unref();
      mine.set(to, t);
      count++;
      indicate(from, to, true);
    },

    stop(socket: MsgSocket, to: Address) {
      if (clear(socket.id, to)) indicate(socket.data.address, to, false);
    },

    /** The socket left: whatever it was typing stops now. */
    drop(socket: MsgSocket) {
      buckets.delete(socket.id);
      const mine = timers.get(socket.id);
      if (!mine) return;
      for (const to of [...mine.keys()]) {
        if (clear(socket.id, to)) indicate(socket.data.address, to, false);
      }
    },

    close() {
      for (const mine of timers.values()) for (const t of mine.values()) clearTimeout(t);
      timers.clear();
      buckets.clear();
      count = 0;
    },
  };
}

export type Typing = ReturnType<typeof createTyping>;
