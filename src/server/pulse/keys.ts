import type { MetricsUpdate, NodeInfo, TaskUpdate } from '../../protocol/pulse.js';

/**
 * Engine keys and channels of the pulse surface. Every piece of shared state lives under
 * these names, so any server node can take over the work of one that died.
 */
export const PulseKeys = {
  /** address that owns a nodeId (SET NX; renewed while the node is connected). */
  owner: (nodeId: string) => `pulse:owner:${nodeId}`,
  /** lease set of live nodeIds, renewed on every sweep of the server holding the node. */
  nodes: 'pulse:nodes',
  /** hash nodeId → NodeRecord JSON. */
  info: 'pulse:info',
  /** hash nodeId → latest MetricsUpdate JSON (written once per sweep, for new server nodes). */
  metrics: 'pulse:metrics',
  /** hash taskId → attempt: the tasks a node holds (its load; requeued when it leaves). */
  held: (nodeId: string) => `pulse:held:${nodeId}`,
  /** task record JSON, expiring P3_PULSE_TASK_TTL after its last change. */
  task: (taskId: string) => `pulse:task:${taskId}`,
  /** FIFO list of queued taskIds per capability. */
  queue: (capability: string) => `pulse:queue:${capability}`,
  /**
   * lease set of taskIds between "taken off / about to go on a queue" and "safely recorded":
   * if the server doing it dies, the lease runs out and another server finishes the move.
   */
  claims: 'pulse:claims',
  /** lease set of `taskId#attempt`, expiring at the attempt's deadline. */
  deadlines: 'pulse:deadlines',
} as const;

export const PulseChannels = {
  /** registry, metrics and task events between server nodes. */
  events: 'p3:pulse:events',
  /** task assignments for the nodes held by one server process. */
  assign: (instanceId: string) => `p3:pulse:assign:${instanceId}`,
  /** the seed's channel for other services: every metrics update (MetricsUpdate JSON). */
  metrics: 'p3:metrics',
} as const;

export const deadlineMember = (taskId: string, attempt: number) => `${taskId}#${attempt}`;

export function parseDeadlineMember(member: string): { taskId: string; attempt: number } | null {
  const i = member.lastIndexOf('#');
  if (i <= 0) return null;
  const attempt = Number(member.slice(i + 1));
  return Number.isInteger(attempt) ? { taskId: member.slice(0, i), attempt } : null;
}

/** A node as the registry stores it: the public info plus where its connection lives. */
export interface NodeRecord extends NodeInfo {
  /** engine instanceId of the server process holding the connection */
  holder: string;
  /** connection id on that server */
  conn: string;
}

export const publicInfo = (r: NodeRecord): NodeInfo => ({
  nodeId: r.nodeId,
  address: r.address,
  capabilities: r.capabilities,
  region: r.region,
  version: r.version,
  maxTasks: r.maxTasks,
  joinedAt: r.joinedAt,
});

/** What server nodes tell each other on `PulseChannels.events` (`o`: the sender's instanceId). */
export type PulseEvent =
  | { k: 'joined'; o: string; node: NodeRecord }
  | { k: 'left'; o: string; node: NodeRecord }
  | { k: 'metrics'; o: string; m: MetricsUpdate }
  | { k: 'task'; o: string; t: TaskUpdate; prev: string | null };

/** An assignment sent to the server holding the node's connection. */
export interface AssignMessage {
  conn: string;
  nodeId: string;
  taskId: string;
  kind: string;
  payload: unknown;
  deadline: number;
  attempt: number;
}
