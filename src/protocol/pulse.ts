/**
 * §6 Pulse: WebSocket `/pulse/stream` and the task REST calls. Types and constants shared
 * by the server and the client SDK. Frames are `{ type, data }`, a discriminated union on
 * `type`. Zod-free: the validators the server runs on every inbound frame and body, at the
 * edge, are in pulse.schema.ts.
 */

export const PulsePaths = {
  stream: '/pulse/stream',
  tasks: '/v1/pulse/tasks',
  task: '/v1/pulse/tasks/:taskId',
} as const;

/** Error codes of this surface, besides the shared ones of errors.ts. */
export const PulseErrorCode = {
  /** `metrics` or `task:result` from a connection that has not registered a node. */
  notRegistered: 'not_registered',
  /** `task:result` for a task this node does not hold (unknown, finished, or reassigned). */
  unknownTask: 'unknown_task',
  /** The same address registered this nodeId on another connection: this one no longer is the node. */
  nodeReplaced: 'node_replaced',
  /** The cluster already has `P3_PULSE_MAX_NODES` nodes. */
  nodeLimit: 'node_limit',
  /** `POST /v1/pulse/tasks` when the capability's queue holds `P3_PULSE_QUEUE_MAX` tasks. */
  queueFull: 'queue_full',
} as const;

export const PULSE_TOPICS = ['nodes', 'metrics', 'tasks'] as const;
export type PulseTopic = (typeof PULSE_TOPICS)[number];

/** Most metric names a node may send in one frame. */
export const MAX_METRICS = 64;
/** Most capabilities one node may declare. */
export const MAX_CAPABILITIES = 32;
/** Upper bound of a node's `maxTasks`. */
export const MAX_TASKS_PER_NODE = 1024;

/** Metric name → value: at most `MAX_METRICS` names of 1-64 characters, finite values. */
export type PulseMetrics = Record<string, number>;

/**
 * `register`: this connection becomes the node `nodeId`. nodeIds, capabilities and task
 * kinds use the signaling room alphabet (`A-Za-z0-9_.:-`), so they are safe in keys and logs.
 */
export type RegisterRequest = {
  /** 1-128 characters. */
  nodeId: string;
  /** At most `MAX_CAPABILITIES`, of 1-64 characters. */
  capabilities: string[];
  region?: string;
  version?: string;
  /** Tasks this node runs at once (an addition to the seed). @default P3_PULSE_NODE_MAX_TASKS */
  maxTasks?: number;
};

/** `task:result`: the outcome of an assigned task. */
export type TaskResult = {
  taskId: string;
  ok: boolean;
  result?: unknown;
  /** At most 4096 characters. */
  error?: string;
};

/** Every frame a client may send after `auth` (the endpoint handles `auth` itself). */
export type PulseClientFrame =
  | { type: 'register'; data: RegisterRequest }
  | { type: 'metrics'; data: PulseMetrics }
  | { type: 'subscribe'; data: { topics: PulseTopic[] } }
  | { type: 'unsubscribe'; data: { topics: PulseTopic[] } }
  | { type: 'task:result'; data: TaskResult }
  | { type: 'ping'; data?: unknown };

export interface NodeInfo {
  nodeId: string;
  /** The EIP-55 address that owns the nodeId. */
  address: string;
  capabilities: string[];
  region: string | null;
  version: string | null;
  maxTasks: number;
  /** ms since the epoch */
  joinedAt: number;
}

export interface MetricsUpdate {
  nodeId: string;
  address: string;
  metrics: PulseMetrics;
  /** ms since the epoch, set by the server */
  timestamp: number;
}

export type TaskStatus = 'queued' | 'assigned' | 'done' | 'failed';

export interface TaskAssign {
  taskId: string;
  kind: string;
  payload: unknown;
  /** ms since the epoch: a result after this may be ignored (the task is assigned again). */
  deadline: number;
  /** 1 for the first assignment. */
  attempt: number;
}

/** A task status change, to subscribers of the `tasks` topic. */
export interface TaskUpdate {
  taskId: string;
  kind: string;
  status: TaskStatus;
  node: string | null;
  attempts: number;
}

export interface PulseSnapshot {
  nodes: NodeInfo[];
  metrics: MetricsUpdate[];
}

/** Every frame the server sends. */
export type PulseServerFrame =
  | { type: 'auth_ok'; data: { address: string } }
  | { type: 'registered'; data: { nodeId: string } }
  | { type: 'snapshot'; data: PulseSnapshot }
  | { type: 'node:joined'; data: NodeInfo }
  | { type: 'node:left'; data: NodeInfo }
  | { type: 'metrics'; data: MetricsUpdate }
  | { type: 'task:assign'; data: TaskAssign }
  | { type: 'task:update'; data: TaskUpdate }
  | { type: 'pong'; data: { serverTime: number } }
  | { type: 'error'; data: { code: string; message: string } };

// ── REST ─────────────────────────────────────────────────────────────────────────

/** Longest task deadline a caller may ask for. */
export const MAX_TASK_TIMEOUT_MS = 24 * 3600_000;

/** `POST /v1/pulse/tasks`. */
export type SubmitTaskRequest = {
  /** 1-128 characters. */
  kind: string;
  payload?: unknown;
  /** Nodes that may run it. @default kind */
  capability?: string;
  /** Deadline of each attempt, 100 ms to `MAX_TASK_TIMEOUT_MS`. @default P3_PULSE_TASK_TIMEOUT */
  timeoutMs?: number;
  /** Assignments before the task fails (an addition), 1-100. @default P3_PULSE_MAX_ATTEMPTS */
  maxAttempts?: number;
};

export interface SubmitTaskResponse {
  taskId: string;
}

export interface TaskView {
  taskId: string;
  kind: string;
  capability: string;
  status: TaskStatus;
  node?: string;
  result?: unknown;
  error?: string;
  attempts: number;
  maxAttempts: number;
  /** ms since the epoch */
  createdAt: number;
  updatedAt: number;
}
