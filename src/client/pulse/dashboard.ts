import type { MetricsUpdate, NodeInfo, PulseTopic, TaskUpdate } from '../../protocol/pulse.js';
import { createEmitter, type Events } from '../emitter.js';
import type { ClientError } from '../errors.js';
import type { SocketState, StateChange } from '../socket.js';
import { exchange, openPulseSocket, type PulseConnectionOptions, parsePulse } from './connection.js';

/** A node as the dashboard keeps it: its registration and its latest metrics. */
export interface DashboardNode extends NodeInfo {
  metrics: MetricsUpdate['metrics'] | undefined;
  /** When the latest metrics arrived (server time, ms). */
  updatedAt: number | undefined;
}

export interface PulseDashboardEvents {
  [key: string]: unknown;
  state: StateChange;
  /** The node list was replaced by a fresh snapshot (on every (re)connect). */
  snapshot: ReadonlyMap<string, DashboardNode>;
  'node:joined': NodeInfo;
  'node:left': NodeInfo;
  metrics: MetricsUpdate;
  task: TaskUpdate;
  error: ClientError;
}

export interface PulseDashboardOptions extends PulseConnectionOptions {
  /** @default ['nodes', 'metrics'] */
  topics?: PulseTopic[];
}

export interface PulseDashboard extends Events<PulseDashboardEvents> {
  readonly state: SocketState;
  /** Every registered node, kept current. */
  readonly nodes: ReadonlyMap<string, DashboardNode>;
  close(): void;
}

/**
 * A live view of the Pulse network: subscribes to nodes, metrics (and tasks) and keeps a
 * map of nodes current; after a reconnect a fresh snapshot replaces it, so nothing that
 * happened while away is missed.
 *
 * @example
 * const dash = createPulseDashboard({ url, token: auth });
 * dash.on('metrics', (m) => chart(m.nodeId, m.metrics.cpu));
 */
export function createPulseDashboard(options: PulseDashboardOptions): PulseDashboard {
  const events = createEmitter<PulseDashboardEvents>();
  const nodes = new Map<string, DashboardNode>();
  const topics = options.topics ?? ['nodes', 'metrics'];
  const toView = (n: NodeInfo): DashboardNode => ({ ...n, metrics: undefined, updatedAt: undefined });
  const applyMetrics = (m: MetricsUpdate) => {
    const n = nodes.get(m.nodeId);
    if (n) {
      n.metrics = m.metrics;
      n.updatedAt = m.timestamp;
    }
  };

  const socket = openPulseSocket(
    options,
    async (link) => {
      const f = await exchange(link, { type: 'subscribe', data: { topics } }, ['snapshot']);
      if (f.type !== 'snapshot') return;
      nodes.clear();
      for (const n of f.data.nodes) nodes.set(n.nodeId, toView(n));
      for (const m of f.data.metrics) applyMetrics(m);
      events.emit('snapshot', nodes);
    },
    (error) => {
      events.emit('error', error);
      socket.close();
    },
  );
  socket.on('state', (s) => events.emit('state', s));
  socket.on('error', (e) => events.emit('error', e));
  socket.on('message', (text) => {
    const f = parsePulse(text);
    switch (f?.type) {
      case 'node:joined':
        nodes.set(f.data.nodeId, { ...toView(f.data), ...pick(nodes.get(f.data.nodeId)) });
        events.emit('node:joined', f.data);
        break;
      case 'node:left':
        nodes.delete(f.data.nodeId);
        events.emit('node:left', f.data);
        break;
      case 'metrics':
        applyMetrics(f.data);
        events.emit('metrics', f.data);
        break;
      case 'task:update':
        events.emit('task', f.data);
        break;
    }
  });
  queueMicrotask(() => socket.connect());
  return {
    on: events.on,
    once: events.once,
    off: events.off,
    get state() {
      return socket.state;
    },
    nodes,
    close: () => socket.close(),
  };
}

const pick = (n: DashboardNode | undefined) => (n ? { metrics: n.metrics, updatedAt: n.updatedAt } : {});
