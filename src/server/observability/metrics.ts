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
  };
}
