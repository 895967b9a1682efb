import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per server instance (no global singletons: tests run many
 * servers in one process). Surfaces create their own metrics on it through the helpers.
 */
export interface Metrics {
  registry: Registry;
  counter<L extends string = string>(name: string, help: string, labelNames?: L[]): Counter<L>;
  gauge<L extends string = string>(
    name: string,
    help: string,
    labelNames?: L[],
    collect?: (this: Gauge<L>) => void | Promise<void>,
  ): Gauge<L>;
  histogram<L extends string = string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames?: L[],
  ): Histogram<L>;
  /**
   * A counter for the hot path: `inc()` adds to a plain number, folded into the Prometheus
   * counter when /metrics is scraped (prom-client's own inc validates and hashes its labels
   * on every call). `labels()` binds a label set once, up front.
   */
  tally<L extends string = string>(name: string, help: string, labelNames?: L[]): Tally<L>;
  /** A counter read at scrape time from a count that only grows (kept elsewhere). */
  countOf(name: string, help: string, read: () => number): void;
}

export interface TallyCount {
  inc(by?: number): void;
}

export interface Tally<L extends string> extends TallyCount {
  labels(labels: Partial<Record<L, string>>): TallyCount;
}

class Count implements TallyCount {
  n = 0;
  inc(by = 1): void {
    this.n += by;
  }
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    // process CPU, memory, handles, GC and event-loop lag (p50/p90/p99)
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  }
  return {
    registry,
    counter: (name, help, labelNames = []) => new Counter({ name, help, labelNames, registers: [registry] }),
    gauge: (name, help, labelNames = [], collect) =>
      new Gauge({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) }),
    histogram: (name, help, buckets, labelNames = []) =>
      new Histogram({ name, help, buckets, labelNames, registers: [registry] }),
    countOf(name, help, read) {
      let folded = 0;
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          const now = read();
          // a count that went back (it cannot, but a counter must never) is left as it is
          if (now > folded) this.inc(now - folded);
          folded = Math.max(folded, now);
        },
      });
    },
    tally<L extends string>(name: string, help: string, labelNames: L[] = []): Tally<L> {
      const own = new Count();
      // one count per label set, however often `labels()` is called with it
      const bound = new Map<string, [Partial<Record<L, string>>, Count]>();
      new Counter<L>({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          if (own.n > 0) this.inc(own.n);
          own.n = 0;
          // every bound label set is a series from its binding on, at 0 until counted
          for (const [labels, c] of bound.values()) {
            this.inc(labels, c.n);
            c.n = 0;
          }
        },
      });
      return {
        inc: (by = 1) => own.inc(by),
        labels(labels) {
          const key = JSON.stringify(labels);
          let entry = bound.get(key);
          if (!entry) {
            entry = [labels, new Count()];
            bound.set(key, entry);
          }
          return entry[1];
        },
      };
    },
  };
}
