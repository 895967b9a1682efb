/**
 * A token bucket kept by its owner in two small integers (a bucket per connection, inline:
 * no object, and no 16-byte heap box per fractional or epoch-ms field): `milli`, its
 * thousandths of a token, refilled here for `elapsedMs` whole ms at `rate` tokens per
 * second, up to `burst` tokens.
 */
export const refill = (milli: number, elapsedMs: number, rate: number, burst: number): number =>
  elapsedMs > 0 ? Math.min(burst * 1000, milli + Math.floor(elapsedMs * rate)) : milli;

/** Whole ms since this clock was made: small integers for the inline buckets above. */
export function msClock(now: () => number): () => number {
  const epoch = now();
  return () => Math.floor(now() - epoch);
}

/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. Used where a bucket is
 * made on demand (per remote address for REST calls, per socket that types); a bucket for
 * every connection is kept inline with `refill`.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = burst;
    this.#last = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(cost = 1): boolean {
    const t = this.now();
    const elapsed = t - this.#last;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
      this.#last = t;
    }
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }
}

/**
 * Buckets by key (e.g. remote IP), bounded: when full, the least recently used key is
 * forgotten (a forgotten key starts with a full bucket again, which errs on the side of
 * serving; the bound protects memory, the bucket protects the service).
 */
export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, cost = 1): boolean {
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key);
    } else {
      b = new TokenBucket(this.rate, this.burst, this.now);
      if (this.#buckets.size >= this.maxKeys) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    }
    this.#buckets.set(key, b);
    return b.take(cost);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
