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
}

/** Decides when to try again; `null` gives up (the client goes to `closed`). */
export interface ReconnectPolicy {
  nextRetryDelayInMs(context: ReconnectContext): number | null;
}

/** The seed's reconnection steps (ms). */
export const DEFAULT_RECONNECT_STEPS_MS: readonly number[] = [1_000, 2_000, 4_000, 8_000, 16_000];

export interface BackoffOptions {
  /** Delay of each retry; the last one repeats. @default [1000, 2000, 4000, 8000, 16000] */
  stepsMs: readonly number[];
  /** `full`: uniform in [0, step); `none`: exactly the step. @default 'full' */
  jitter: 'full' | 'none';
  /** Give up after this many retries. @default Infinity */
  maxRetries: number;
  /** Give up once the connection has been lost for this long (ms). @default Infinity */
  maxElapsedMs: number;
  /** Source of randomness in [0, 1), for tests. @default Math.random */
  random: () => number;
}

const defaults: BackoffOptions = {
  stepsMs: DEFAULT_RECONNECT_STEPS_MS,
  jitter: 'full',
  maxRetries: Number.POSITIVE_INFINITY,
  maxElapsedMs: Number.POSITIVE_INFINITY,
  random: Math.random,
};

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
    nextRetryDelayInMs({ retryCount, elapsedMs }) {
      if (retryCount >= o.maxRetries || elapsedMs >= o.maxElapsedMs) return null;
      const step = o.stepsMs[Math.min(retryCount, o.stepsMs.length - 1)] ?? 0;
      return o.jitter === 'full' ? Math.floor(o.random() * step) : step;
    },
  };
}
