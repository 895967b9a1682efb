import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import { type AssignMessage, deadlineMember, PulseKeys as K, PulseChannels } from './keys.js';
import type { PulseSession } from './session.js';
import type { TaskRecord, TaskStore } from './task-store.js';
import type { ClusterView, Slot } from './view.js';

/** Claim member suffix while a task moves off its queue (tasks.ts recovers expired ones). */
const DISPATCH = '|dispatch';

export interface DispatcherDeps {
  engine: Engine;
  store: TaskStore;
  view: ClusterView;
  now: () => number;
  log: Logger;
  /** pulse sessions on this server by connection id */
  sessions: ReadonlyMap<string, PulseSession>;
  /** how long a claim covers a move off a queue */
  claimMs: number;
  /** the task was assigned (recorded in the engine) */
  onAssigned(record: TaskRecord): void;
  /** takes an attempt back from its node (refund: it never reached the node) */
  release(taskId: string, attempt: number, reason: string, refund: boolean): Promise<boolean>;
}

/**
 * Moves queued tasks to nodes: picks the least busy node with a free slot from this
 * server's view, pops the capability's queue, records the assignment with its deadline
 * lease, and hands the task to the server holding the node's connection (directly, or on
 * that server's assign channel). One loop per capability per server; a trigger that
 * arrives while it runs makes it go round once more.
 */
export function createDispatcher(deps: DispatcherDeps) {
  const { engine, store, view, now, log, claimMs } = deps;
  const running = new Set<string>();
  const again = new Set<string>();
  let closed = false;

  /** Assigns queued tasks of `capability` while a node has a free slot (one loop per capability). */
  async function dispatch(capability: string): Promise<void> {
    if (running.has(capability)) {
      again.add(capability);
      return;
    }
    running.add(capability);
    try {
      do {
        again.delete(capability);
        await drain(capability);
      } while (again.has(capability) && !closed);
    } catch (error) {
      log.warn({ err: error, capability }, 'pulse dispatch failed; the next sweep retries');
    } finally {
      running.delete(capability);
    }
  }

  async function drain(capability: string) {
    while (!closed) {
      const slot = view.reserve(capability);
      if (!slot) return;
      let taskId: string | null;
      try {
        // taken and claimed in one step: a process that dies here leaves a claim that runs out
        taskId = await engine.listPopLease(K.queue(capability), K.claims, claimMs, DISPATCH);
      } catch (error) {
        slot.release();
        throw error;
      }
      if (!taskId) {
        slot.release();
        return;
      }
      await assign(taskId, slot).catch((error) => {
        log.warn({ err: error, taskId }, 'pulse assignment failed; its claim or deadline requeues it');
      });
    }
  }

  /** Assigns a task just taken off its queue; gives the slot back when it cannot. */
  async function assign(taskId: string, reserved: Slot): Promise<void> {
    let slot = reserved;
    let r: TaskRecord | null;
    try {
      // renews the claim listPopLease took (idempotent)
      await engine.leaseAdd(K.claims, taskId + DISPATCH, claimMs);
      r = await store.load(taskId);
      if (r?.status !== 'queued') {
        slot.release();
        await engine.leaseRemove(K.claims, taskId + DISPATCH);
        return;
      }
      if (r.lastNode === slot.record.nodeId) {
        // it just lost this task: another node gets it if one has a free slot
        const other = view.reserve(r.capability, r.lastNode);
        if (other) {
          slot.release();
          slot = other;
        }
      }
      const t = now();
      r.status = 'assigned';
      r.node = slot.record.nodeId;
      r.attempts += 1;
      r.deadline = t + r.timeoutMs;
      r.updatedAt = t;
      await store.save(r);
    } catch (error) {
      slot.release();
      throw error;
    }
    const node = slot.record;
    await engine.leaseAdd(K.deadlines, deadlineMember(taskId, r.attempts), r.timeoutMs);
    await engine.hset(K.held(node.nodeId), { [taskId]: String(r.attempts) });
    await engine.leaseRemove(K.claims, taskId + DISPATCH);
    deps.onAssigned(r);
    const msg: AssignMessage = {
      conn: node.conn,
      nodeId: node.nodeId,
      taskId,
      kind: r.kind,
      payload: r.payload,
      deadline: r.deadline,
      attempt: r.attempts,
    };
    if (node.holder === engine.instanceId) await deliver(msg);
    else await engine.publish(PulseChannels.assign(node.holder), JSON.stringify(msg));
  }

  /** On the server holding the node's connection: hand the task over, or give it back. */
  async function deliver(msg: AssignMessage): Promise<void> {
    const s = deps.sessions.get(msg.conn);
    if (!s?.conn.open || s.node?.nodeId !== msg.nodeId) {
      // it never reached a node: that attempt does not count
      await deps.release(msg.taskId, msg.attempt, 'node disconnected', true);
      return;
    }
    s.inflight.set(msg.taskId, msg.attempt);
    s.conn.send({
      type: 'task:assign',
      data: {
        taskId: msg.taskId,
        kind: msg.kind,
        payload: msg.payload,
        deadline: msg.deadline,
        attempt: msg.attempt,
      },
    });
  }

  return {
    dispatch,
    deliver,
    close() {
      closed = true;
    },
  };
}
