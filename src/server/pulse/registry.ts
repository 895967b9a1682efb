import { ErrorCode } from '../../protocol/errors.js';
import { PulseErrorCode, type RegisterRequest } from '../../protocol/pulse.js';
import type { Config } from '../config.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Fanout } from './fanout.js';
import { PulseKeys as K, type NodeRecord, type PulseEvent, publicInfo } from './keys.js';
import type { PulseSession } from './session.js';
import type { TaskQueue } from './tasks.js';
import type { ClusterView } from './view.js';

/** Ownership of a nodeId outlives its connections; renewed on every sweep while connected. */
const OWNER_TTL_MS = 30 * 86_400_000;

export interface RegistryDeps {
  engine: Engine;
  config: Config;
  now: () => number;
  log: Logger;
  metrics: Metrics;
  view: ClusterView;
  fanout: Fanout;
  tasks: TaskQueue;
  publish(event: PulseEvent): void;
}

export type Registry = ReturnType<typeof createRegistry>;

const parse = (text: string | null | undefined): NodeRecord | undefined => {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as NodeRecord;
  } catch {
    return undefined;
  }
};

/**
 * The node registry. A nodeId belongs to the address that first registered it (SET NX on
 * an owner key). Live nodes are members of a lease set renewed by the server holding their
 * connection on every sweep; when that server dies the lease runs out and exactly one
 * surviving server (leaseExpire is atomic) reports `node:left` to all and requeues the
 * node's tasks. A node closing its connection leaves at once.
 */
export function createRegistry(deps: RegistryDeps) {
  const { engine, config, now, log, view, fanout, tasks } = deps;
  const leaseMs = config.heartbeatTimeoutMs;
  /** nodeId → the session on this server that is that node */
  const locals = new Map<string, PulseSession>();
  const changes = deps.metrics.counter('p3_pulse_node_events_total', 'Pulse registry events', ['event']);
  deps.metrics.gauge(
    'p3_pulse_nodes',
    'Pulse nodes in the cluster (as this server sees it)',
    [],
    function () {
      this.set(view.size);
    },
  );
  deps.metrics.gauge('p3_pulse_local_nodes', 'Pulse nodes connected to this server', [], function () {
    this.set(locals.size);
  });

  const frame = (type: 'node:joined' | 'node:left', r: NodeRecord) =>
    JSON.stringify({ type, data: publicInfo(r) });

  /** A node joined or moved (from this server or another): update the view and tell subscribers. */
  function applyJoined(record: NodeRecord, announce: boolean) {
    const isNew = view.upsert(record);
    const local = locals.get(record.nodeId);
    if (local && local.conn.id !== record.conn) detach(local);
    if (announce || isNew) fanout.broadcast('nodes', frame('node:joined', record));
  }

  function applyLeft(record: NodeRecord) {
    const local = locals.get(record.nodeId);
    if (local?.conn.open) {
      // this server was too slow to renew and another one reported the node gone: it is not
      void reassert(local);
      return;
    }
    if (!view.remove(record.nodeId)) return;
    fanout.forgetNode(record.nodeId);
    fanout.broadcast('nodes', frame('node:left', record));
  }

  /** The same address registered this nodeId on another connection (a reconnect). */
  function detach(s: PulseSession) {
    if (s.node) locals.delete(s.node.nodeId);
    const nodeId = s.node?.nodeId;
    s.node = undefined;
    // its tasks stay with the nodeId: the new connection answers them, or their deadline passes
    s.inflight.clear();
    changes.inc({ event: 'replaced' });
    s.conn.error(PulseErrorCode.nodeReplaced, `Node ${nodeId} registered again on another connection`);
  }

  async function claimOwner(nodeId: string, address: string): Promise<boolean> {
    for (let i = 0; i < 2; i++) {
      if (await engine.setIfAbsent(K.owner(nodeId), address, OWNER_TTL_MS)) return true;
      const owner = await engine.get(K.owner(nodeId));
      if (owner === address) {
        await engine.expire(K.owner(nodeId), OWNER_TTL_MS);
        return true;
      }
      if (owner !== null) return false;
      // it expired between the two calls: try again
    }
    return false;
  }

  async function write(record: NodeRecord) {
    await engine.hset(K.info, { [record.nodeId]: JSON.stringify(record) });
    await engine.leaseAdd(K.nodes, record.nodeId, leaseMs);
  }

  async function register(s: PulseSession, req: RegisterRequest): Promise<void> {
    const identity = s.conn.identity;
    if (!identity) return;
    if (s.node && s.node.nodeId !== req.nodeId) {
      s.conn.error(
        ErrorCode.badRequest,
        `This connection is node ${s.node.nodeId}; use another connection for another node`,
      );
      return;
    }
    if (!view.has(req.nodeId) && view.size >= config.pulseMaxNodes) {
      s.conn.error(PulseErrorCode.nodeLimit, `The cluster already has ${config.pulseMaxNodes} nodes`);
      return;
    }
    if (!(await claimOwner(req.nodeId, identity.address))) {
      changes.inc({ event: 'taken' });
      s.conn.error(ErrorCode.nodeTaken, `Node ${req.nodeId} belongs to another address`);
      return;
    }
    if (!s.conn.open) return;
    const record: NodeRecord = {
      nodeId: req.nodeId,
      address: identity.address,
      capabilities: [...new Set(req.capabilities)],
      region: req.region ?? null,
      version: req.version ?? null,
      maxTasks: req.maxTasks ?? config.pulseNodeMaxTasks,
      joinedAt: s.node?.joinedAt ?? now(),
      holder: engine.instanceId,
      conn: s.conn.id,
    };
    const previous = locals.get(record.nodeId);
    if (previous && previous !== s) detach(previous);
    s.node = record;
    locals.set(record.nodeId, s);
    await write(record);
    changes.inc({ event: 'joined' });
    applyJoined(record, true);
    deps.publish({ k: 'joined', o: engine.instanceId, node: record });
    s.conn.send({ type: 'registered', data: { nodeId: record.nodeId } });
    log.info({ nodeId: record.nodeId, address: record.address }, 'pulse node registered');
    for (const c of record.capabilities) void tasks.dispatch(c);
  }

  /** Writes a live local node back after the cluster lost it (slow renewal, Redis outage). */
  async function reassert(s: PulseSession) {
    if (!s.node) return;
    await write(s.node);
    applyJoined(s.node, false);
    deps.publish({ k: 'joined', o: engine.instanceId, node: s.node });
  }

  /** Removes a node everywhere: records, every server's view, then its tasks. */
  async function finishLeave(record: NodeRecord, reason: string) {
    view.drain(record.nodeId);
    await Promise.all([engine.hdel(K.info, record.nodeId), engine.hdel(K.metrics, record.nodeId)]);
    changes.inc({ event: 'left' });
    log.info({ nodeId: record.nodeId, reason }, 'pulse node left');
    applyLeft(record);
    // before its tasks are requeued: other servers drop the node before they see the tasks queued
    deps.publish({ k: 'left', o: engine.instanceId, node: record });
    await tasks.releaseNode(record.nodeId, reason);
  }

  /** The connection closed. */
  async function leave(s: PulseSession): Promise<void> {
    const node = s.node;
    if (!node || locals.get(node.nodeId) !== s) return;
    locals.delete(node.nodeId);
    s.node = undefined;
    // its tasks must not come straight back to it while they are handed over
    view.drain(node.nodeId);
    await tasks.releaseSession(s);
    // the node may have registered again elsewhere meanwhile: only its current connection leaves
    const current = parse(await engine.hget(K.info, node.nodeId));
    if (current && current.conn !== node.conn) return;
    // false: its lease ran out and the server that took it reports the leave
    if (!(await engine.leaseRemove(K.nodes, node.nodeId))) return;
    await finishLeave(node, 'disconnected');
  }

  /** Sweep, on the server holding the connections: renew leases and ownership. */
  async function renew(): Promise<void> {
    const jobs: Promise<unknown>[] = [];
    for (const [nodeId, s] of locals) {
      if (!s.conn.open) continue;
      jobs.push(engine.leaseAdd(K.nodes, nodeId, leaseMs), engine.expire(K.owner(nodeId), OWNER_TTL_MS));
    }
    await Promise.all(jobs);
  }

  /** Sweep, on every server: nodes whose lease ran out leave (each reported by one server). */
  async function expire(): Promise<void> {
    for (const nodeId of await engine.leaseExpire(K.nodes)) {
      const local = locals.get(nodeId);
      if (local?.conn.open) {
        await engine.leaseAdd(K.nodes, nodeId, leaseMs);
        continue;
      }
      const record = parse(await engine.hget(K.info, nodeId)) ?? view.get(nodeId);
      if (record) await finishLeave(record, 'lease expired');
      else await tasks.releaseNode(nodeId, 'lease expired');
    }
  }

  /** Sweep: corrects this server's view from the engine (events lost while Redis was away). */
  async function resync(withMetrics = false): Promise<void> {
    const [members, info, metrics] = await Promise.all([
      engine.leaseMembers(K.nodes),
      engine.hgetall(K.info),
      withMetrics ? engine.hgetall(K.metrics) : Promise.resolve({} as Record<string, string>),
    ]);
    const live = new Set(members);
    const t = now();
    for (const [nodeId, text] of Object.entries(info)) {
      const record = parse(text);
      if (!record) continue;
      if (!live.has(nodeId)) {
        // a record whose lease is gone and whose leave was never finished (its server died)
        if (t - record.joinedAt > leaseMs && !locals.has(nodeId)) await engine.hdel(K.info, nodeId);
        continue;
      }
      const known = view.get(nodeId);
      if (!known || known.conn !== record.conn) applyJoined(record, false);
    }
    for (const nodeId of view.ids()) {
      if (live.has(nodeId) && info[nodeId]) continue;
      const local = locals.get(nodeId);
      if (local?.conn.open && local.node) {
        await reassert(local);
        continue;
      }
      // a node that joined after the reads above were answered is not gone
      if (t - view.seenAt(nodeId) < config.heartbeatIntervalMs) continue;
      const record = view.get(nodeId);
      if (record) applyLeft(record);
    }
    for (const text of Object.values(metrics)) {
      try {
        view.setMetrics(JSON.parse(text));
      } catch {
        // a damaged entry is replaced by the node's next update
      }
    }
    const ids = view.ids();
    const held = await Promise.all(ids.map((id) => engine.hgetall(K.held(id))));
    for (const [i, id] of ids.entries()) view.setLoad(id, Object.keys(held[i] ?? {}).length);
  }

  return {
    locals,
    register,
    leave,
    renew,
    expire,
    resync,
    applyJoined,
    applyLeft,
  };
}
