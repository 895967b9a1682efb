import { createBackoffPolicy, type ReconnectPolicy } from './backoff.js';
import { createEmitter, type Events } from './emitter.js';
import { ClientError } from './errors.js';
import { type Heartbeat, type HeartbeatOptions, startHeartbeat } from './heartbeat.js';
import { resolveWebSocket, type WebSocketConstructor, type WebSocketLike, WS_OPEN } from './platform.js';
import { createRetrySchedule } from './retry.js';

/** `idle` (not started) → `connecting` → `open` ⇄ `reconnecting` → `closed` (final). */
export type SocketState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StateChange<S extends string = SocketState> {
  from: S;
  to: S;
}

export interface SocketEvents {
  [key: string]: unknown;
  /** The one state event. */
  state: StateChange;
  /** Every text frame received (also during the handshake). */
  message: string;
  /** The connection is usable (handshake done, queue flushed). */
  open: { reconnected: boolean };
  /** A connection ended. */
  close: { code: number; reason: string; willReconnect: boolean };
  /** A retry is scheduled. */
  retry: { retryCount: number; delayMs: number };
  /** Handshake failures, give-ups, dropped frames. */
  error: ClientError;
}

/** What the handshake (`onOpen`) may do before the socket reports `open`. */
export interface HandshakeLink {
  /** Sends now, ahead of the queue. */
  send(data: string): void;
  /** The next received frame that matches, or a `timeout` error. */
  waitFor(match: (data: string) => boolean, timeoutMs?: number): Promise<string>;
  /** True for the first connection, false after a reconnect. */
  readonly reconnected: boolean;
}

export interface ReconnectingSocketOptions {
  /** The URL, or a function called before every attempt (to put a fresh token in it). */
  url: string | URL | (() => string | URL | Promise<string | URL>);
  /** @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /** @default createBackoffPolicy(): 1, 2, 4, 8, 16 s with full jitter */
  reconnectPolicy?: ReconnectPolicy;
  /** An attempt that is not open (handshake included) after this long fails. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Client heartbeat: `ping` every `intervalMs`; nothing received within `timeoutMs` after
   * it and the connection is replaced. `false` turns it off.
   * @default { intervalMs: 30000, timeoutMs: 10000, ping: '{"type":"ping"}' }
   */
  heartbeat?: HeartbeatOptions | false;
  /** Frames kept while not connected; beyond it `send` returns false. @default 256 */
  maxQueuedMessages?: number;
  /** Runs on each new connection before `open` (authenticate, re-join). Rejecting fails the attempt. */
  onOpen?: (link: HandshakeLink) => void | Promise<void>;
  /**
   * Whether a close by the server warrants a reconnect. Default: every close except a
   * normal closure (1000) — a server restart (1001) or a dropped link must come back.
   */
  shouldReconnect?: (close: { code: number; reason: string }) => boolean;
  /** Start connecting (on the next microtask, after your listeners are attached). @default true */
  autoConnect?: boolean;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

export interface ReconnectingSocket extends Events<SocketEvents> {
  readonly state: SocketState;
  /** Frames waiting for a connection. */
  readonly queued: number;
  /** Starts (with `autoConnect: false`); no-op otherwise. */
  connect(): void;
  /** Sends, or queues while not open. False when the queue is full or the socket is closed. */
  send(data: string): boolean;
  /** Drops the current connection and reconnects now (e.g. after a network change). */
  reconnect(): void;
  /** Closes for good: no reconnect. */
  close(code?: number, reason?: string): void;
}

type Resolved = Required<Omit<ReconnectingSocketOptions, 'WebSocket' | 'reconnectPolicy' | 'onOpen'>> &
  Pick<ReconnectingSocketOptions, 'onOpen'>;

const defaults: Omit<Resolved, 'url'> = {
  connectTimeoutMs: 10_000,
  heartbeat: {},
  maxQueuedMessages: 256,
  onOpen: undefined,
  shouldReconnect: (close) => close.code !== 1000,
  autoConnect: true,
  now: Date.now,
};

/**
 * A WebSocket that comes back: the seed's backoff steps with full jitter (replaceable
 * policy), reset after each successful connection, no reconnect after a clean close,
 * heartbeat with pong-timeout detection, a bounded queue while disconnected.
 *
 * @example
 * const socket = createReconnectingSocket({ url: 'wss://rt.example.com/pulse/stream?token=…' });
 * socket.on('state', ({ from, to }) => console.log(`${from} → ${to}`));
 * socket.on('message', (text) => console.log(JSON.parse(text)));
 * socket.send(JSON.stringify({ type: 'ping' }));
 */
export function createReconnectingSocket(options: ReconnectingSocketOptions): ReconnectingSocket {
  const WS = resolveWebSocket(options.WebSocket);
  // an option given as `undefined` keeps its default (a plain spread would erase it)
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...defaults, ...given } as Resolved;
  const now = o.now;
  const retry = createRetrySchedule(options.reconnectPolicy ?? createBackoffPolicy(), now);
  const events = createEmitter<SocketEvents>();

  let state: SocketState = 'idle';
  let ws: WebSocketLike | undefined;
  let generation = 0;
  let everOpened = false;
  const queue: string[] = [];
  const waiters = new Set<{ match: (d: string) => boolean; resolve: (d: string) => void }>();
  let connectTimer: ReturnType<typeof setTimeout> | undefined;
  let heartbeat: Heartbeat | undefined;

  const setState = (to: SocketState) => {
    if (to === state) return;
    const from = state;
    state = to;
    events.emit('state', { from, to });
  };

  /** Forgets the current WebSocket without waiting for its close event (it may never come). */
  const detach = (code: number, reason: string) => {
    clearTimeout(connectTimer);
    heartbeat?.stop();
    heartbeat = undefined;
    waiters.clear();
    const old = ws;
    ws = undefined;
    generation++;
    if (!old) return;
    old.onopen = old.onmessage = old.onclose = null;
    // keep an error handler: some implementations throw on an unhandled 'error'
    old.onerror = () => {};
    try {
      old.close(code, reason);
    } catch {
      // already closed, or a code the implementation refuses: nothing left to release
    }
  };

  const lost = (code: number, reason: string) => {
    if (state === 'open') retry.markLost();
    detach(code === 1000 ? 1000 : 4000, reason);
    const again = o.shouldReconnect({ code, reason });
    events.emit('close', { code, reason, willReconnect: again });
    if (again) schedule(code, reason);
    else setState('closed');
  };

  const schedule = (closeCode?: number, reason?: string) => {
    const retryCount = retry.retryCount;
    const delayMs = retry.next(attempt, { closeCode, reason });
    if (delayMs === null) {
      events.emit('error', new ClientError('closed', `Gave up reconnecting after ${retryCount} retries`));
      setState('closed');
      return;
    }
    setState('reconnecting');
    events.emit('retry', { retryCount, delayMs });
  };

  function attempt() {
    const gen = ++generation;
    if (state === 'idle') setState('connecting');
    const failed = (error: unknown) => {
      if (gen !== generation || state === 'closed') return;
      events.emit(
        'error',
        new ClientError('network', 'Could not build the connection URL', { cause: error }),
      );
      schedule(undefined, 'url');
    };
    let url: string | URL | Promise<string | URL>;
    try {
      url = typeof o.url === 'function' ? o.url() : o.url;
    } catch (error) {
      failed(error);
      return;
    }
    // synchronous when the URL is: keeps the state machine free of needless microtask hops
    if (url instanceof Promise) url.then((u) => open(gen, String(u)), failed);
    else open(gen, String(url));
  }

  function open(gen: number, url: string) {
    if (gen !== generation || state === 'closed') return;
    let socket: WebSocketLike;
    try {
      socket = new WS(url);
    } catch (error) {
      events.emit('error', new ClientError('network', 'Could not open a WebSocket', { cause: error }));
      schedule(undefined, 'constructor');
      return;
    }
    ws = socket;
    connectTimer = setTimeout(() => lost(4000, 'connect timeout'), o.connectTimeoutMs);
    socket.onerror = () => {
      // the close event that follows carries the details
    };
    socket.onmessage = (event) => {
      if (gen !== generation) return;
      heartbeat?.heard();
      const data = typeof event.data === 'string' ? event.data : String(event.data);
      for (const w of waiters) {
        if (w.match(data)) {
          waiters.delete(w);
          w.resolve(data);
        }
      }
      events.emit('message', data);
    };
    socket.onclose = (event) => {
      if (gen === generation) lost(event.code, event.reason);
    };
    const opened = () => {
      if (gen !== generation) return;
      clearTimeout(connectTimer);
      retry.succeeded();
      const reconnected = everOpened;
      everOpened = true;
      setState('open');
      while (queue.length > 0 && socket.readyState === WS_OPEN) socket.send(queue.shift()!);
      if (o.heartbeat !== false) {
        heartbeat = startHeartbeat(
          o.heartbeat,
          (f) => socket.send(f),
          () => lost(4000, 'heartbeat timeout'),
        );
      }
      events.emit('open', { reconnected });
    };
    const handshakeFailed = (error: unknown) => {
      if (gen !== generation) return;
      const e =
        error instanceof ClientError
          ? error
          : new ClientError('handshake', 'Handshake failed', { cause: error });
      events.emit('error', e);
      lost(4001, e.message);
    };
    socket.onopen = () => {
      if (gen !== generation) return;
      const handshake = o.onOpen;
      if (!handshake) {
        opened();
        return;
      }
      const link: HandshakeLink = {
        reconnected: everOpened,
        send: (data) => socket.send(data),
        waitFor: (match, timeoutMs = o.connectTimeoutMs) =>
          new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => {
              if (waiters.delete(w)) reject(new ClientError('timeout', 'No answer from the server'));
            }, timeoutMs);
            const w = {
              match,
              resolve: (d: string) => {
                clearTimeout(timer);
                resolve(d);
              },
            };
            waiters.add(w);
          }),
      };
      let done: Promise<void>;
      try {
        done = Promise.resolve(handshake(link));
      } catch (error) {
        done = Promise.reject(error);
      }
      done.then(opened, handshakeFailed);
    };
  }

  // the network is back: waiting out the backoff would only delay recovery
  const onOnline = () => state === 'reconnecting' && retry.now();
  const win = globalThis as {
    addEventListener?: typeof addEventListener;
    removeEventListener?: typeof removeEventListener;
  };

  const socket: ReconnectingSocket = {
    on: events.on,
    once: events.once,
    off: events.off,
    get state() {
      return state;
    },
    get queued() {
      return queue.length;
    },
    connect() {
      if (state !== 'idle') return;
      win.addEventListener?.('online', onOnline);
      retry.markLost();
      attempt();
    },
    send(data) {
      if (state === 'closed') return false;
      if (state === 'open' && ws?.readyState === WS_OPEN) {
        ws.send(data);
        return true;
      }
      if (queue.length >= o.maxQueuedMessages) {
        events.emit(
          'error',
          new ClientError('queue_full', `Outgoing queue is full (${o.maxQueuedMessages} frames)`),
        );
        return false;
      }
      queue.push(data);
      return true;
    },
    reconnect() {
      if (state === 'closed' || state === 'idle') return;
      retry.cancel();
      detach(4000, 'reconnect');
      retry.markLost();
      setState('reconnecting');
      attempt();
    },
    close(code = 1000, reason = 'client closed') {
      if (state === 'closed') return;
      retry.cancel();
      win.removeEventListener?.('online', onOnline);
      const hadSocket = ws !== undefined;
      detach(code, reason);
      queue.length = 0;
      if (hadSocket) events.emit('close', { code, reason, willReconnect: false });
      setState('closed');
    },
  };
  // on a microtask, so listeners added right after creation see the first transition
  if (o.autoConnect) queueMicrotask(() => socket.connect());
  return socket;
}
