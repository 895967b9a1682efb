import type { PulseMetrics, RegisterRequest, TaskAssign } from '../../protocol/pulse.js';
import { createEmitter, type Events } from '../emitter.js';
import { ClientError } from '../errors.js';
import type { SocketState, StateChange } from '../socket.js';
import { exchange, openPulseSocket, type PulseConnectionOptions, parsePulse } from './connection.js';

/** What a task handler gets besides the task. */
export interface TaskContext {
  /** Aborted at the task's deadline or when the node closes. */
  signal: AbortSignal;
}

export type TaskHandler = (task: TaskAssign, context: TaskContext) => unknown | Promise<unknown>;

export interface PulseNodeOptions extends PulseConnectionOptions, RegisterRequest {
  /** Runs each assigned task; its return value is the result, a throw is the error. */
  handleTask?: TaskHandler;
  /** Read on every interval and sent as `metrics`. */
  metrics?: () => PulseMetrics | Promise<PulseMetrics>;
  /** @default 5000 */
  metricsIntervalMs?: number;
}

export interface PulseNodeEvents {
  [key: string]: unknown;
  state: StateChange;
  /** Registered (again after each reconnect). */
  registered: { nodeId: string };
  task: TaskAssign;
  taskDone: { taskId: string; ok: boolean; durationMs: number };
  error: ClientError;
}

export interface PulseNode extends Events<PulseNodeEvents> {
  readonly state: SocketState;
  /** Tasks running now. */
  readonly running: number;
  /** Sends metrics now (besides the interval). */
  reportMetrics(metrics: PulseMetrics): void;
  /** Stops: aborts running tasks, closes the socket (the server reassigns what was not done). */
  close(): void;
}

const FATAL = new Set(['node_taken', 'node_replaced', 'node_limit']);

/**
 * A worker node of the Pulse network: registers (again after every reconnect), reports
 * metrics on an interval, runs assigned tasks with a handler and sends back the result.
 *
 * @example
 * const node = createPulseNode({
 *   url: 'https://rt.example.com', token: auth, nodeId: 'gpu-1', capabilities: ['resize'],
 *   metrics: () => ({ cpu: os.loadavg()[0] }),
 *   handleTask: async (task) => resize(task.payload),
 * });
 */
export function createPulseNode(options: PulseNodeOptions): PulseNode {
  const events = createEmitter<PulseNodeEvents>();
  const running = new Map<string, AbortController>();
  const register: RegisterRequest = {
    nodeId: options.nodeId,
    capabilities: options.capabilities,
    ...(options.region ? { region: options.region } : {}),
    ...(options.version ? { version: options.version } : {}),
    ...(options.maxTasks ? { maxTasks: options.maxTasks } : {}),
  };
  const fatal = (error: ClientError) => {
    events.emit('error', error);
    node.close();
  };
  const socket = openPulseSocket(
    options,
    async (link) => {
      const answer = await exchange(link, { type: 'register', data: register }, ['registered']).catch(
        (error) => {
          if (error instanceof ClientError && FATAL.has(error.code)) fatal(error);
          throw error;
        },
      );
      if (answer.type === 'registered') events.emit('registered', answer.data);
    },
    fatal,
  );
  const send = (type: string, data: unknown) => socket.send(JSON.stringify({ type, data }));

  async function run(task: TaskAssign) {
    // an assignment we are already working on (re-sent after a reconnect) is not run twice
    if (running.has(task.taskId) || !options.handleTask) return;
    const abort = new AbortController();
    running.set(task.taskId, abort);
    const timer = setTimeout(
      () => abort.abort(new ClientError('timeout', 'Task deadline passed')),
      Math.max(0, task.deadline - Date.now()),
    );
    const started = Date.now();
    events.emit('task', task);
    let ok = true;
    try {
      const result = await options.handleTask(task, { signal: abort.signal });
      if (!abort.signal.aborted) send('task:result', { taskId: task.taskId, ok: true, result });
    } catch (error) {
      ok = false;
      const message = error instanceof Error ? error.message : String(error);
      if (running.has(task.taskId))
        send('task:result', { taskId: task.taskId, ok: false, error: message.slice(0, 4096) });
    } finally {
      clearTimeout(timer);
      running.delete(task.taskId);
      events.emit('taskDone', { taskId: task.taskId, ok, durationMs: Date.now() - started });
    }
  }

  socket.on('state', (s) => events.emit('state', s));
  socket.on('error', (e) => events.emit('error', e));
  socket.on('message', (text) => {
    const f = parsePulse(text);
    if (f?.type === 'task:assign') void run(f.data);
    else if (f?.type === 'error') {
      const e = ClientError.from(f.data);
      events.emit('error', e);
      if (FATAL.has(e.code)) node.close();
    }
  });

  let busy = false;
  const metricsTimer = options.metrics
    ? setInterval(async () => {
        if (busy || socket.state !== 'open') return;
        busy = true;
        try {
          node.reportMetrics(await options.metrics!());
        } catch (error) {
          events.emit('error', new ClientError('metrics', 'The metrics function failed', { cause: error }));
        } finally {
          busy = false;
        }
      }, options.metricsIntervalMs ?? 5_000)
    : undefined;

  const node: PulseNode = {
    on: events.on,
    once: events.once,
    off: events.off,
    get state() {
      return socket.state;
    },
    get running() {
      return running.size;
    },
    reportMetrics(metrics) {
      // only while connected: stale metrics replayed after a reconnect would mislead
      if (socket.state === 'open') send('metrics', metrics);
    },
    close() {
      clearInterval(metricsTimer);
      for (const abort of running.values()) abort.abort(new ClientError('closed', 'The node closed'));
      running.clear();
      socket.close();
    },
  };
  queueMicrotask(() => socket.connect());
  return node;
}
