/**
 * Reconnect policies, after livekit's `ReconnectPolicy` and centrifuge-js's `backoff()`.
 *
 * The default follows the seed's steps (1, 2, 4, 8, 16 s, then 16 s forever) with *full
 * jitter*: the delay is uniform in [0, step). Without jitter every client of a restarted
 * server comes back in the same millisecond; full jitter spreads the herd over the whole
 * step at the cost of a shorter mean wait, which is what we want after an outage.
 */

/** What a policy knows when it picks the next delay. */
export interface ReconnectContext {
  /** Attempts since the last successful connection: 0 before the first retry. */
  readonly retryCount: number;
  /** Time since the connection was lost (ms). */
  readonly elapsedMs: number;
  /** Close code of the connection that was lost, when known. */
  readonly closeCode?: number | undefined;
  /** Why the last attempt failed, when known. */
  readonly reason?: string | undefined;
  /** Close code of the loss that started this outage (retries keep seeing it). */
  readonly outageCloseCode?: number | undefined;
  /** One random number in [0, 1) per outage, for policies that keep a client's phase. */
  readonly phase?: number | undefined;
}

/** Decides when to try again; `null` gives up (the client goes to `closed`). */
export interface ReconnectPolicy {
  nextRetryDelayInMs(context: ReconnectContext): number | null;
}

/** The seed's reconnection steps (ms). */
export const DEFAULT_RECONNECT_STEPS_MS: readonly number[] = [1_000, 2_000, 4_000, 8_000, 16_000];
/** Windows after the server said it is going away or restarting (ms). */
export const DEFAULT_RESTART_STEPS_MS: readonly number[] = [8_000, 16_000];

export interface BackoffOptions {
  /** Delay of each retry; the last one repeats. @default [1000, 2000, 4000, 8000, 16000] */
  stepsMs: readonly number[];
  /** `full`: uniform in [0, step); `none`: exactly the step. @default 'full' */
  jitter: 'full' | 'none';
  /** Give up after this many retries. @default Infinity */
  maxRetries: number;
  /** Give up once the connection has been lost for this long (ms). @default Infinity */
  maxElapsedMs: number;
  /**
   * Windows used when the outage began with a close code in `restartCloseCodes`. A server
   * that restarts has every client reconnect at once: each client then keeps one random
   * phase for the whole outage and tries at that point of each window, so the clients
   * come back spread evenly over the window the server returns in (1/8 of them per second
   * with the first 8 s window), and failed early tries do not pile up on the next step.
   * @default [8000, 16000]
   */
  restartStepsMs: readonly number[];
  /** Close codes that mean "the server is going away / restarting". @default [1001, 1012, 1013] */
  restartCloseCodes: readonly number[];
  /** Source of randomness in [0, 1), for tests. @default Math.random */
  random: () => number;
}

const defaults: BackoffOptions = {
  stepsMs: DEFAULT_RECONNECT_STEPS_MS,
  jitter: 'full',
  maxRetries: Number.POSITIVE_INFINITY,
  maxElapsedMs: Number.POSITIVE_INFINITY,
  restartStepsMs: DEFAULT_RESTART_STEPS_MS,
  restartCloseCodes: [1001, 1012, 1013],
  random: Math.random,
};

/** Delay to the k-th try when try k sits at `phase` of window k (windows back to back). */
function phasedDelay(steps: readonly number[], k: number, phase: number): number {
  const step = (i: number) => steps[Math.min(i, steps.length - 1)] ?? 0;
  if (k === 0) return Math.floor(phase * step(0));
  // try k-1 was at start(k-1) + phase·step(k-1); try k is at start(k) + phase·step(k)
  return Math.floor(step(k - 1) + phase * (step(k) - step(k - 1)));
}

/**
 * The step-and-jitter policy every client of this SDK uses unless given another.
 *
 * @example
 * // at most 5 retries, no jitter (e.g. for a single device on a LAN)
 * const policy = createBackoffPolicy({ maxRetries: 5, jitter: 'none' });
 * policy.nextRetryDelayInMs({ retryCount: 0, elapsedMs: 0 }); // 1000
 */
export function createBackoffPolicy(options: Partial<BackoffOptions> = {}): ReconnectPolicy {
  const o: BackoffOptions = { ...defaults, ...options };
  if (o.stepsMs.length === 0) throw new RangeError('stepsMs needs at least one step');
  return {
    nextRetryDelayInMs({ retryCount, elapsedMs, outageCloseCode, phase }) {
      if (retryCount >= o.maxRetries || elapsedMs >= o.maxElapsedMs) return null;
      if (
        o.jitter === 'full' &&
        outageCloseCode !== undefined &&
        o.restartCloseCodes.includes(outageCloseCode) &&
        o.restartStepsMs.length > 0
      ) {
        return phasedDelay(o.restartStepsMs, retryCount, phase ?? o.random());
      }
      const step = o.stepsMs[Math.min(retryCount, o.stepsMs.length - 1)] ?? 0;
      return o.jitter === 'full' ? Math.floor(o.random() * step) : step;
    },
  };
}
