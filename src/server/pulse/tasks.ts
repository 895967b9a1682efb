import { randomUUID } from 'node:crypto';
import {
  PulseErrorCode,
  type SubmitTaskRequest,
  type TaskResult,
  type TaskUpdate,
} from '../../protocol/pulse.js';
import type { Config } from '../config.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createDispatcher } from './dispatch.js';
import { deadlineMember, PulseKeys as K, parseDeadlineMember } from './keys.js';
import type { PulseSession } from './session.js';
import { type TaskRecord, TaskStore } from './task-store.js';
import type { ClusterView } from './view.js';

export interface TaskQueueDeps {
  engine: Engine;
  config: Config;
  now: () => number;
  log: Logger;
  metrics: Metrics;
  view: ClusterView;
  /** pulse sessions on this server by connection id */
  sessions: ReadonlyMap<string, PulseSession>;
  /** a task changed state: tell subscribers here and on the other server nodes */
  onUpdate(update: TaskUpdate, prevNode: string | null): void;
}

export type TaskQueue = ReturnType<typeof createTaskQueue>;

const ENQUEUE = '|enqueue';
/** A claim that covers settling an attempt (a result, a requeue): `<taskId>|settle-<uuid>`. */
const SETTLE = '|settle-';

/**
 * Task distribution with state in the engine, so a server node may die at any point:
 * a per-capability FIFO list of queued ids, one JSON record per task, a lease set of
 * `taskId#attempt` that runs out at the attempt's deadline, and a lease set of claims that
 * covers the moves on and off a queue. Whoever wins a lease (the engine gives each to
 * exactly one caller) makes the next state change, so a result is reported once and a late
 * result from a node that lost its task is ignored. Assignment is at least once: a node
 * that disconnects, leaves or misses the deadline loses the task to another node, until
 * `maxAttempts` assignments have been made; then the task fails.
 */
export function createTaskQueue(deps: TaskQueueDeps) {
  const { engine, config, now, log, view } = deps;
  const store = new TaskStore(engine, config.pulseTaskTtlSec * 1000);
  // a claim outlives any healthy move; if its server dies, the next sweep after this finishes it
  const claimMs = config.heartbeatTimeoutMs;

  const events = deps.metrics.counter('p3_pulse_tasks_total', 'Pulse task events', ['event']);
  const duration = deps.metrics.histogram(
    'p3_pulse_task_seconds',
    'Pulse task time from submission to its final state',
    [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    ['status'],
  );
  deps.metrics.gauge(
    'p3_pulse_tasks_delivered',
    'Tasks held by nodes connected to this server',
    [],
    function () {
      let n = 0;
      for (const s of deps.sessions.values()) n += s.inflight.size;
      this.set(n);
    },
  );

  const dispatcher = createDispatcher({
    engine,
    store,
    view,
    now,
    log,
    sessions: deps.sessions,
    claimMs,
    onAssigned(r) {
      events.inc({ event: 'assigned' });
      announce(r, null);
    },
    release: (taskId, attempt, reason, refund) => release(taskId, attempt, reason, refund),
  });
  const { dispatch } = dispatcher;

  const announce = (r: TaskRecord, prev: string | null) => {
    deps.onUpdate(
      { taskId: r.taskId, kind: r.kind, status: r.status, node: r.node, attempts: r.attempts },
      prev,
    );
  };
  const finished = (r: TaskRecord) => {
    events.inc({ event: r.status });
    duration.observe({ status: r.status }, (r.updatedAt - r.createdAt) / 1000);
  };

  /** Puts a queued record's id on its queue, covered by a claim until it is there. */
  async function enqueue(r: TaskRecord, front: boolean) {
    const claim = r.taskId + ENQUEUE;
    await engine.leaseAdd(K.claims, claim, claimMs);
    await store.save(r);
    await engine.listPush(K.queue(r.capability), r.taskId, front);
    await engine.leaseRemove(K.claims, claim);
  }

  async function submit(req: SubmitTaskRequest): Promise<string | null> {
    const capability = req.capability ?? req.kind;
    if ((await engine.listLength(K.queue(capability))) >= config.pulseQueueMax) return null;
    const t = now();
    const r: TaskRecord = {
      taskId: randomUUID(),
      kind: req.kind,
      capability,
      payload: req.payload ?? null,
      status: 'queued',
      node: null,
      attempts: 0,
      maxAttempts: req.maxAttempts ?? config.pulseMaxAttempts,
      timeoutMs: req.timeoutMs ?? config.pulseTaskTimeoutMs,
      deadline: null,
      createdAt: t,
      updatedAt: t,
    };
    await enqueue(r, false);
    events.inc({ event: 'submitted' });
    announce(r, null);
    void dispatch(capability);
    return r.taskId;
  }

  /** A claim covering the settling of one attempt of `taskId` (unique: several may race). */
  async function settleClaim(taskId: string): Promise<string> {
    const claim = `${taskId}${SETTLE}${randomUUID()}`;
    await engine.leaseAdd(K.claims, claim, claimMs);
    return claim;
  }

  /**
   * Takes an attempt from its deadline member (the step that decides between a result, the
   * deadline and the node leaving), covered by a claim until what follows is saved: when the
   * process or Redis fails in between, the claim runs out and recoverClaim puts the deadline
   * back, where a bare removal left the task `assigned` with nothing to move it again.
   * Resolves with the claim to remove once done, or null when another step took it.
   */
  async function takeAttempt(taskId: string, attempt: number): Promise<string | null> {
    const claim = await settleClaim(taskId);
    if (await engine.leaseRemove(K.deadlines, deadlineMember(taskId, attempt))) return claim;
    await engine.leaseRemove(K.claims, claim);
    return null;
  }

  /** Takes an attempt away from its node if it still has it; true when this call did. */
  async function release(taskId: string, attempt: number, reason: string, refund = false) {
    const claim = await takeAttempt(taskId, attempt);
    if (!claim) return false;
    await requeue(taskId, attempt, reason, refund);
    await engine.leaseRemove(K.claims, claim);
    return true;
  }

  /** The caller owns the attempt's deadline member: queue the task again, or fail it. */
  async function requeue(taskId: string, attempt: number, reason: string, refund = false) {
    const r = await store.load(taskId);
    if (r?.status !== 'assigned' || r.attempts !== attempt) return;
    if (refund) r.attempts -= 1;
    const prev = r.node;
    if (prev) {
      view.addLoad(prev, -1);
      await engine.hdel(K.held(prev), taskId);
    }
    r.updatedAt = now();
    r.deadline = null;
    if (r.attempts >= r.maxAttempts) {
      r.status = 'failed';
      r.error = `${reason}; gave up after ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`;
      await store.save(r);
      finished(r);
      announce(r, prev);
      return;
    }
    r.status = 'queued';
    r.lastNode = prev;
    r.node = null;
    // first in line again: it has waited longest
    await enqueue(r, true);
    events.inc({ event: 'requeued' });
    log.info({ taskId, attempt, reason }, 'pulse task requeued');
    announce(r, prev);
    void dispatch(r.capability);
  }

  async function onResult(s: PulseSession, result: TaskResult): Promise<void> {
    const node = s.node;
    if (!node) {
      s.conn.error(PulseErrorCode.notRegistered, 'Register a node before sending task results');
      return;
    }
    const r = await store.load(result.taskId);
    const attempt = s.inflight.get(result.taskId) ?? r?.attempts ?? 0;
    s.inflight.delete(result.taskId);
    const holds = r && r.status === 'assigned' && r.node === node.nodeId && r.attempts === attempt;
    const claim = holds ? await takeAttempt(result.taskId, attempt) : null;
    if (!holds || !claim) {
      events.inc({ event: 'late_result' });
      s.conn.error(
        PulseErrorCode.unknownTask,
        `Task ${result.taskId} is not assigned to this node (unknown, finished or reassigned)`,
      );
      return;
    }
    r.status = result.ok ? 'done' : 'failed';
    if (result.ok) r.result = result.result ?? null;
    else r.error = result.error ?? 'the node reported a failure';
    r.deadline = null;
    r.updatedAt = now();
    await store.save(r);
    await engine.leaseRemove(K.claims, claim);
    view.addLoad(node.nodeId, -1);
    await engine.hdel(K.held(node.nodeId), r.taskId);
    finished(r);
    announce(r, node.nodeId);
    for (const c of node.capabilities) void dispatch(c);
  }

  /** A connection that held the node closed: its tasks go to other nodes now. */
  async function releaseSession(s: PulseSession): Promise<void> {
    const held = [...s.inflight];
    s.inflight.clear();
    await Promise.all(held.map(([id, attempt]) => release(id, attempt, 'node disconnected')));
  }

  /** A node left (its connection closed, or its lease ran out): requeue everything it held. */
  async function releaseNode(nodeId: string, reason: string): Promise<void> {
    const held = await engine.hgetall(K.held(nodeId));
    await Promise.all(Object.entries(held).map(([id, a]) => release(id, Number(a), reason)));
    await engine.del(K.held(nodeId));
  }

  /** A claim ran out: the server moving the task died; finish its move. */
  async function recoverClaim(member: string) {
    const taskId = member.slice(0, member.lastIndexOf('|'));
    const r = await store.load(taskId);
    if (!r) return;
    if (r.status === 'queued') {
      // it may or may not be on its queue: make sure it is there exactly once
      await engine.listRemove(K.queue(r.capability), taskId);
      await engine.listPush(K.queue(r.capability), taskId, true);
      events.inc({ event: 'recovered' });
      void dispatch(r.capability);
    } else if (r.status === 'assigned' && r.deadline !== null) {
      await engine.leaseAdd(K.deadlines, deadlineMember(taskId, r.attempts), Math.max(1, r.deadline - now()));
    }
  }

  /** Every sweep, on every server node: deadlines, dead claims, and a dispatch safety net. */
  async function sweep(): Promise<void> {
    for (const member of await engine.leaseExpire(K.deadlines)) {
      const d = parseDeadlineMember(member);
      if (!d) continue;
      events.inc({ event: 'deadline_missed' });
      // covered like takeAttempt: a requeue cut short is recovered when the claim runs out
      const claim = await settleClaim(d.taskId);
      await requeue(d.taskId, d.attempt, 'deadline missed');
      await engine.leaseRemove(K.claims, claim);
    }
    for (const member of await engine.leaseExpire(K.claims)) await recoverClaim(member);
    for (const c of view.capabilities()) void dispatch(c);
  }

  return {
    submit,
    get: (taskId: string) => store.load(taskId),
    dispatch,
    deliver: dispatcher.deliver,
    onResult,
    releaseSession,
    releaseNode,
    sweep,
    close: dispatcher.close,
  };
}
