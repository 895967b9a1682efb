/**
 * §6 Pulse: WebSocket `/pulse/stream` and the task REST calls. Types and zod validators
 * shared by the server (which validates every inbound frame and body here, at the edge)
 * and the client SDK. Frames are `{ type, data }`, a discriminated union on `type`.
 */
import { z } from 'zod';

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

/** nodeIds, capabilities and kinds: the signaling room alphabet, so they are safe in keys and logs. */
const name = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_.:-]+$/, 'only A-Za-z0-9_.:- are allowed');

export const NodeIdSchema = name(128);
export const CapabilitySchema = name(64);
/** Most metric names a node may send in one frame. */
export const MAX_METRICS = 64;
/** Most capabilities one node may declare. */
export const MAX_CAPABILITIES = 32;
/** Upper bound of a node's `maxTasks`. */
export const MAX_TASKS_PER_NODE = 1024;

export const MetricsSchema = z
  .record(z.string().min(1).max(64), z.number().finite())
  .refine((m) => Object.keys(m).length <= MAX_METRICS, `at most ${MAX_METRICS} metrics per frame`);

const RegisterData = z.object({
  nodeId: NodeIdSchema,
  capabilities: z.array(CapabilitySchema).max(MAX_CAPABILITIES),
  region: z.string().max(64).optional(),
  version: z.string().max(64).optional(),
  /** Tasks this node runs at once (an addition to the seed). @default P3_PULSE_NODE_MAX_TASKS */
  maxTasks: z.number().int().min(1).max(MAX_TASKS_PER_NODE).optional(),
});

const TaskResultData = z.object({
  taskId: z.string().min(1).max(128),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.string().max(4096).optional(),
});

/** Every frame a client may send after `auth` (the endpoint handles `auth` itself). */
export const PulseClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('register'), data: RegisterData }),
  z.object({ type: z.literal('metrics'), data: MetricsSchema }),
  z.object({
    type: z.literal('subscribe'),
    data: z.object({ topics: z.array(z.enum(PULSE_TOPICS)).min(1).max(PULSE_TOPICS.length) }),
  }),
  z.object({
    type: z.literal('unsubscribe'),
    data: z.object({ topics: z.array(z.enum(PULSE_TOPICS)).min(1).max(PULSE_TOPICS.length) }),
  }),
  z.object({ type: z.literal('task:result'), data: TaskResultData }),
  z.object({ type: z.literal('ping'), data: z.unknown().optional() }),
]);

export type PulseClientFrame = z.infer<typeof PulseClientFrameSchema>;
export type RegisterRequest = z.infer<typeof RegisterData>;
export type TaskResult = z.infer<typeof TaskResultData>;
export type PulseMetrics = Record<string, number>;

/** The auth frame: `{ type: 'auth', data: { token } }`. */
export const PulseAuthFrameSchema = z.object({
  type: z.literal('auth'),
  data: z.object({ token: z.string().min(1).max(8192) }),
});

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

export const SubmitTaskSchema = z.object({
  kind: name(128),
  payload: z.unknown().optional(),
  /** Nodes that may run it. @default kind */
  capability: CapabilitySchema.optional(),
  /** Deadline of each attempt. @default P3_PULSE_TASK_TIMEOUT */
  timeoutMs: z.number().int().min(100).max(MAX_TASK_TIMEOUT_MS).optional(),
  /** Assignments before the task fails (an addition). @default P3_PULSE_MAX_ATTEMPTS */
  maxAttempts: z.number().int().min(1).max(100).optional(),
});
export type SubmitTaskRequest = z.infer<typeof SubmitTaskSchema>;

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

/** A human-readable summary of a zod failure, for `bad_request` messages. */
export function describeIssues(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid';
  const path = first.path.length ? first.path.join('.') : 'frame';
  return `${path}: ${first.message}`;
}
