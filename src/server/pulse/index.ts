import { ErrorCode } from '../../protocol/errors.js';
import { PulsePaths, type TaskUpdate } from '../../protocol/pulse.js';
import { describeIssues, PulseAuthFrameSchema, PulseClientFrameSchema } from '../../protocol/pulse.schema.js';
import type { Surface, SurfaceContext } from '../surface.js';
import { createWsEndpoint, type WsConnection } from '../ws/endpoint.js';
import { Fanout } from './fanout.js';
import { type AssignMessage, PulseChannels, type PulseEvent } from './keys.js';
import { NodeMetrics } from './node-metrics.js';
import { createRegistry } from './registry.js';
import { mountTaskRoutes } from './routes.js';
import { createSession, type PulseSession } from './session.js';
import { createTaskQueue } from './tasks.js';
import { ClusterView } from './view.js';

const CLIENT_TYPES = new Set(['register', 'metrics', 'subscribe', 'unsubscribe', 'task:result', 'ping']);

/**
 * Pulse (PROTOCOL.md §6): WebSocket `/pulse/stream` for nodes and dashboards, and the task
 * REST calls. Wires the shared endpoint (auth, limits, heartbeats) to the registry, the
 * metrics fan-out and the task queue, and relays their events between server nodes.
 */
export async function createPulseSurface(ctx: SurfaceContext): Promise<Surface> {
  const { engine, config, now, metrics } = ctx;
  const log = ctx.logger.child({ surface: 'pulse' });
  const sessions = new Map<string, PulseSession>();
  const view = new ClusterView(now);
  const fanout = new Fanout({ metrics, slowBytes: Math.min(64 * 1024, config.sendBufferBytes / 4) });
  const publish = (event: PulseEvent) => {
    engine
      .publish(PulseChannels.events, JSON.stringify(event))
      .catch((error) => log.warn({ err: error }, 'pulse event publish failed'));
  };
  const taskFrame = (t: TaskUpdate) => JSON.stringify({ type: 'task:update', data: t });

  const tasks = createTaskQueue({
    engine,
    config,
    now,
    log,
    metrics,
    view,
    sessions,
    onUpdate(t, prev) {
      fanout.broadcast('tasks', taskFrame(t));
      publish({ k: 'task', o: engine.instanceId, t, prev });
    },
  });
  const registry = createRegistry({ engine, config, now, log, metrics, view, fanout, tasks, publish });
  const nodeMetrics = new NodeMetrics({ engine, now, log, metrics, view, fanout });

  function onEvent(message: string) {
    let event: PulseEvent;
    try {
      event = JSON.parse(message) as PulseEvent;
    } catch {
      return;
    }
    // this server applied its own events when it made them
    if (event.o === engine.instanceId) return;
    switch (event.k) {
      case 'joined':
        registry.applyJoined(event.node, true);
        break;
      case 'left':
        registry.applyLeft(event.node);
        break;
      case 'metrics':
        nodeMetrics.onRemote(event.m);
        break;
      case 'task':
        view.addLoad(event.prev, -1);
        if (event.t.status === 'assigned') view.addLoad(event.t.node, 1);
        fanout.broadcast('tasks', taskFrame(event.t));
        break;
    }
  }

  function onAssign(message: string) {
    let msg: AssignMessage;
    try {
      msg = JSON.parse(message) as AssignMessage;
    } catch {
      return;
    }
    tasks
      .deliver(msg)
      .catch((error) => log.warn({ err: error, taskId: msg.taskId }, 'pulse delivery failed'));
  }

  const unsubscribe = await Promise.all([
    engine.subscribe(PulseChannels.events, onEvent),
    engine.subscribe(PulseChannels.assign(engine.instanceId), onAssign),
  ]);
  // a server starting while Redis is away still starts: its sweeps fill the view later
  await registry.resync(true).catch((error) => log.warn({ err: error }, 'pulse initial resync failed'));

  const session = (conn: WsConnection) => {
    let s = sessions.get(conn.id);
    if (!s) {
      s = createSession(conn);
      sessions.set(conn.id, s);
    }
    return s;
  };

  async function onFrame(conn: WsConnection, raw: Record<string, unknown> & { type: string }) {
    if (!CLIENT_TYPES.has(raw.type)) {
      conn.error(ErrorCode.badRequest, `Unknown frame type "${raw.type.slice(0, 64)}"`);
      return;
    }
    const parsed = PulseClientFrameSchema.safeParse(raw);
    if (!parsed.success) {
      conn.error(ErrorCode.badRequest, `${raw.type}: ${describeIssues(parsed.error)}`);
      return;
    }
    const frame = parsed.data;
    if (frame.type === 'ping') {
      conn.send({ type: 'pong', data: { serverTime: now() } });
      return;
    }
    const s = session(conn);
    switch (frame.type) {
      case 'register':
        await registry.register(s, frame.data);
        break;
      case 'metrics':
        nodeMetrics.onFrame(s, frame.data);
        break;
      case 'subscribe':
        for (const t of frame.data.topics) fanout.subscribe(s, t);
        // taken from memory now, sent behind the fan-outs already queued (which this session
        // also gets): no older frame can arrive after it, no update falls between
        fanout.send(s, JSON.stringify({ type: 'snapshot', data: view.snapshot() }));
        break;
      case 'unsubscribe':
        for (const t of frame.data.topics) fanout.unsubscribe(s, t);
        break;
      case 'task:result':
        await tasks.onResult(s, frame.data);
        break;
    }
  }

  const leaving = new Set<Promise<void>>();
  let sweeping = false;
  const endpoint = createWsEndpoint(ctx, {
    path: PulsePaths.stream,
    surface: 'pulse',
    authFrame(frame) {
      const parsed = PulseAuthFrameSchema.safeParse(frame);
      return parsed.success ? { token: parsed.data.data.token } : null;
    },
    publicTypes: ['ping'],
    onAuthenticated(conn) {
      session(conn);
      conn.send({ type: 'auth_ok', data: { address: conn.identity?.address } });
    },
    onFrame,
    onClose(conn) {
      const s = sessions.get(conn.id);
      if (!s) return;
      sessions.delete(conn.id);
      fanout.drop(s);
      if (s.node) nodeMetrics.forget(s.node.nodeId);
      const p = registry.leave(s).catch((error) => log.warn({ err: error }, 'pulse leave failed'));
      leaving.add(p);
      void p.finally(() => leaving.delete(p));
    },
    async onSweep() {
      // a sweep slower than the interval (a Redis hiccup) is not stacked on another
      if (sweeping) return;
      sweeping = true;
      try {
        await registry.renew();
        await nodeMetrics.flush();
        await registry.expire();
        await tasks.sweep();
        await registry.resync();
      } finally {
        sweeping = false;
      }
    },
  });
  mountTaskRoutes(ctx.router, ctx.auth, config, tasks);

  return {
    name: 'pulse',
    async close() {
      tasks.close();
      await endpoint.close();
      await Promise.allSettled([...leaving]);
      fanout.close();
      await Promise.allSettled(unsubscribe.map((u) => u()));
    },
  };
}
