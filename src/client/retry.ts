import type { ReconnectPolicy } from './backoff.js';

/** The reconnect bookkeeping every connection of the SDK shares (WebSocket, Socket.IO, EventSource). */
export interface RetrySchedule {
  /** Retries since the last success. */
  readonly retryCount: number;
  /** True while a retry is waiting for its delay. */
  readonly pending: boolean;
  /** The connection was lost: the policy's `elapsedMs` counts from now. */
  markLost(): void;
  /** Runs `attempt` after the policy's delay; returns the delay, or null when the policy gives up. */
  next(
    attempt: () => void,
    info?: { closeCode?: number | undefined; reason?: string | undefined },
  ): number | null;
  /** Runs the waiting retry at once (the network came back); false when none waits. */
  now(): boolean;
  /** A connection succeeded: the next loss starts again at the first step. */
  succeeded(): void;
  cancel(): void;
}

export function createRetrySchedule(policy: ReconnectPolicy, clock: () => number = Date.now): RetrySchedule {
  let retryCount = 0;
  let lostAt = clock();
  // what started the current outage, and this client's phase for it
  let outageCloseCode: number | undefined;
  let phase = Math.random();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let waiting: (() => void) | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = undefined;
    const run = waiting;
    waiting = undefined;
    retryCount++;
    run?.();
  };
  return {
    get retryCount() {
      return retryCount;
    },
    get pending() {
      return timer !== undefined;
    },
    markLost() {
      lostAt = clock();
    },
    next(attempt, info = {}) {
      if (retryCount === 0) {
        outageCloseCode = info.closeCode;
        phase = Math.random();
      }
      const delay = policy.nextRetryDelayInMs({
        retryCount,
        elapsedMs: clock() - lostAt,
        ...info,
        outageCloseCode,
        phase,
      });
      if (delay === null) return null;
      clearTimeout(timer);
      waiting = attempt;
      timer = setTimeout(fire, delay);
      return delay;
    },
    now() {
      if (!timer) return false;
      fire();
      return true;
    },
    succeeded() {
      retryCount = 0;
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
      waiting = undefined;
    },
  };
}
