import { type MetricsUpdate, PulseErrorCode, type PulseMetrics } from '../../protocol/pulse.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Fanout } from './fanout.js';
import { PulseKeys as K, PulseChannels } from './keys.js';
import type { PulseSession } from './session.js';
import type { ClusterView } from './view.js';

export interface NodeMetricsDeps {
  engine: Engine;
  now: () => number;
  log: Logger;
  metrics: Metrics;
  view: ClusterView;
  fanout: Fanout;
}

/**
 * Metrics from nodes: latest per node, fanned out to this server's subscribers, to the other
 * server nodes, and to Redis channel `p3:metrics` for other services. The update is
 * serialised once and spliced into each message. The latest value per node is written to
 * the engine once per sweep (not per update), for server nodes that start later.
 */
export class NodeMetrics {
  readonly #d: NodeMetricsDeps;
  /** nodeId → latest update JSON not yet written to the engine (bounded by local nodes) */
  readonly #dirty = new Map<string, string>();
  readonly #updates;
  readonly #prefix: string;

  constructor(deps: NodeMetricsDeps) {
    this.#d = deps;
    this.#updates = deps.metrics.counter('p3_pulse_metrics_updates_total', 'Metrics updates by origin', [
      'origin',
    ]);
    this.#prefix = `{"k":"metrics","o":${JSON.stringify(deps.engine.instanceId)},"m":`;
  }

  /** A `metrics` frame from a node connected here. */
  onFrame(s: PulseSession, metrics: PulseMetrics): void {
    const node = s.node;
    if (!node) {
      s.conn.error(PulseErrorCode.notRegistered, 'Register a node before sending metrics');
      return;
    }
    const update: MetricsUpdate = {
      nodeId: node.nodeId,
      address: node.address,
      metrics,
      timestamp: this.#d.now(),
    };
    const data = JSON.stringify(update);
    this.#updates.inc({ origin: 'local' });
    this.#d.view.setMetrics(update);
    this.#d.fanout.metrics(node.nodeId, `{"type":"metrics","data":${data}}`);
    this.#dirty.set(node.nodeId, data);
    const { engine, log } = this.#d;
    const failed = (error: unknown) => log.warn({ err: error }, 'pulse metrics publish failed');
    engine.publish(PulseChannels.events, `${this.#prefix}${data}}`).catch(failed);
    engine.publish(PulseChannels.metrics, data).catch(failed);
  }

  /** An update relayed by another server node. */
  onRemote(update: MetricsUpdate): void {
    if (!this.#d.view.has(update.nodeId)) return;
    this.#updates.inc({ origin: 'remote' });
    this.#d.view.setMetrics(update);
    this.#d.fanout.metrics(update.nodeId, JSON.stringify({ type: 'metrics', data: update }));
  }

  forget(nodeId: string): void {
    this.#dirty.delete(nodeId);
  }

  /** Sweep: writes the latest metrics of local nodes in one call. */
  async flush(): Promise<void> {
    if (this.#dirty.size === 0) return;
    // a node that left since its update must not be written back
    const fields = Object.fromEntries([...this.#dirty].filter(([id]) => this.#d.view.has(id)));
    this.#dirty.clear();
    if (Object.keys(fields).length === 0) return;
    await this.#d.engine.hset(K.metrics, fields);
  }
}
