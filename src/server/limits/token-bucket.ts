/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. Used per
 * connection (frames) and per remote address (REST calls).
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
