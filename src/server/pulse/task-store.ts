import type { TaskStatus, TaskUpdate, TaskView } from '../../protocol/pulse.js';
import type { Engine } from '../engine/types.js';
import { PulseKeys as K } from './keys.js';

/** A task as the engine keeps it (one JSON key per task, expiring after its last change). */
export interface TaskRecord {
  taskId: string;
  kind: string;
  capability: string;
  payload: unknown;
  status: TaskStatus;
  /** the node holding it (assigned), or the last one that did (done/failed) */
  node: string | null;
  /** the node that lost it last (the next assignment prefers another one) */
  lastNode?: string | null;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  /** deadline of the current attempt, ms since the epoch */
  deadline: number | null;
  result?: unknown;
  error?: string;
  createdAt: number;
  updatedAt: number;
}

/**
 * Reads and writes task records. A write is not a compare-and-set: every state change is
 * made by the one server that won the matching lease (claim or deadline member), which the
 * engine hands to exactly one caller.
 */
export class TaskStore {
  readonly #engine: Engine;
  readonly #ttlMs: number;

  constructor(engine: Engine, ttlMs: number) {
    this.#engine = engine;
    this.#ttlMs = ttlMs;
  }

  async load(taskId: string): Promise<TaskRecord | null> {
    const text = await this.#engine.get(K.task(taskId));
    if (!text) return null;
    try {
      return JSON.parse(text) as TaskRecord;
    } catch {
      return null;
    }
  }

  save(record: TaskRecord): Promise<void> {
    return this.#engine.set(K.task(record.taskId), JSON.stringify(record), this.#ttlMs);
  }
}

export const toUpdate = (r: TaskRecord): TaskUpdate => ({
  taskId: r.taskId,
  kind: r.kind,
  status: r.status,
  node: r.node,
  attempts: r.attempts,
});

/** The REST view of `GET /v1/pulse/tasks/:taskId`. */
export function toView(r: TaskRecord): TaskView {
  const view: TaskView = {
    taskId: r.taskId,
    kind: r.kind,
    capability: r.capability,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
  if (r.node) view.node = r.node;
  if (r.status === 'done') view.result = r.result ?? null;
  if (r.error !== undefined) view.error = r.error;
  return view;
}
