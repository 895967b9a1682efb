/**
 * §6 Pulse: the zod validators the server runs on every inbound frame and body, at the
 * edge, for the types of pulse.ts. Server-only: the client SDK must not import this module
 * (it would ship zod).
 */
import { z } from 'zod';
import {
  MAX_CAPABILITIES,
  MAX_METRICS,
  MAX_TASK_TIMEOUT_MS,
  MAX_TASKS_PER_NODE,
  PULSE_TOPICS,
  type PulseClientFrame,
  type PulseMetrics,
  type RegisterRequest,
  type SubmitTaskRequest,
  type TaskResult,
} from './pulse.js';
import type { Equal, Expect } from './type-check.js';

/** nodeIds, capabilities and kinds: the signaling room alphabet, so they are safe in keys and logs. */
const name = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_.:-]+$/, 'only A-Za-z0-9_.:- are allowed');

export const NodeIdSchema = name(128);
export const CapabilitySchema = name(64);

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

/** The auth frame: `{ type: 'auth', data: { token } }`. */
export const PulseAuthFrameSchema = z.object({
  type: z.literal('auth'),
  data: z.object({ token: z.string().min(1).max(8192) }),
});

// ── REST ─────────────────────────────────────────────────────────────────────────

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

/** The schemas infer exactly the hand-written types of pulse.ts. */
type _Checks = [
  Expect<Equal<z.infer<typeof MetricsSchema>, PulseMetrics>>,
  Expect<Equal<z.infer<typeof RegisterData>, RegisterRequest>>,
  Expect<Equal<z.infer<typeof TaskResultData>, TaskResult>>,
  Expect<Equal<z.infer<typeof PulseClientFrameSchema>, PulseClientFrame>>,
  Expect<Equal<z.infer<typeof SubmitTaskSchema>, SubmitTaskRequest>>,
];

/** A human-readable summary of a zod failure, for `bad_request` messages. */
export function describeIssues(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid';
  const path = first.path.length ? first.path.join('.') : 'frame';
  return `${path}: ${first.message}`;
}
