import type { IncomingMessage } from 'node:http';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Server as EngineServer, type Socket as EngineSocket } from 'engine.io';
import type { Redis } from 'ioredis';
import { Server, type Socket } from 'socket.io';
import { ErrorCode } from '../../protocol/errors.js';
import {
  type Address,
  type ClientToServerEvents,
  MAX_PACKET_BYTES,
  MESSAGING_PATH,
  type ServerToClientEvents,
} from '../../protocol/messaging.js';
import { bearerOf } from '../auth/index.js';
import { coalesceWrites } from '../engine/coalesce.js';
import { handOver } from '../http/upgrade-socket.js';
import type { SurfaceContext } from '../surface.js';

/** What the auth middleware stores on each socket (also restored by connection-state recovery). */
export interface SocketData {
  address: Address;
  /** Token expiry, ms since the epoch: the socket is disconnected then. */
  expiresAt: number;
  /**
   * When the connection this one recovers (connection-state recovery) went away: the
   * delivery receipts published since then are sent again.
   */
  leftAt?: number;
  /**
   * Handshake `auth.receiptsSince`: the newest `message:delivered` timestamp the client has;
   * the kept receipts from then on are sent again.
   */
  receiptsSince?: number;
}

export type MsgServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type MsgSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export interface Transport {
  io: MsgServer;
  /** The engine.io server under `io` (the shard worker reports its sessions for sticky routing). */
  eio: EngineServer;
  /**
   * False (and the socket is dropped) when it has more than P3_SEND_BUFFER_BYTES unsent:
   * a reader that stopped reading must not grow this process's memory. Safe for messages,
   * which stay in the inbox until acknowledged.
   */
  writable(socket: MsgSocket): boolean;
  /**
   * A socket disconnected: its address's count goes down. Called from the surface's one
   * 'disconnect' listener (a second listener per socket costs an array per connection).
   */
  detach(socket: MsgSocket): void;
  /**
   * Unsent bytes of a socket: engine.io's packet queue plus what the WebSocket still holds
   * (string lengths, so an estimate for non-ASCII text); counting stops past `limit`.
   */
  unsentBytes(socket: MsgSocket, limit?: number): number;
  /**
   * Closes every socket as "server shutting down" (clients reconnect elsewhere and recover
   * their session), then the engine. Rooms can still be emitted to until `release`.
   */
  closeSockets(): Promise<void>;
  /** Releases the adapter's Redis connection. */
  release(): Promise<void>;
}

/**
 * Unsent bytes of a socket, counted up to `limit` (a byte cap: a packet count alone let a
 * stalled reader of large messages hold hundreds of MB).
 */
function unsentBytes(socket: MsgSocket, limit = Number.POSITIVE_INFINITY): number {
  const conn = socket.conn as unknown as {
    writeBuffer?: { data?: unknown }[];
    transport?: { socket?: { bufferedAmount?: number } };
  };
  let bytes = conn.transport?.socket?.bufferedAmount ?? 0;
  for (const p of conn.writeBuffer ?? []) {
    const d = p.data;
    bytes += typeof d === 'string' ? d.length : ((d as { byteLength?: number } | undefined)?.byteLength ?? 0);
    if (bytes > limit) break;
  }
  return bytes;
}

/** An Error whose `data` reaches the client's `connect_error` handler. */
function refusal(code: string, message: string): Error {
  return Object.assign(new Error(code), { data: { code, message } });
}

/** What a connected socket's handshake keeps of its auth: nothing, one object for all. */
const NO_AUTH = Object.freeze({});

/**
 * Socket.IO on an engine.io server we route to ourselves: requests under `/socket.io/`
 * and upgrades reach it from the shared HTTP layer (which already enforced the Origin
 * policy and answers CORS), so neither Socket.IO's `attach` nor its CORS layer is used.
 * Limits: P3_MAX_CONNECTIONS (shared budget), not-yet-connected sessions per IP,
 * sockets per address, 1 MiB packets, handshake token auth.
 */
export function createTransport(ctx: SurfaceContext): Transport {
  const { config, metrics } = ctx;
  const refused = metrics.counter('p3_messaging_refused_total', 'Socket.IO connections refused', ['reason']);
  const pendingPerIp = new Map<string, number>();
  const perAddress = new Map<string, number>();
  metrics.gauge('p3_messaging_pending_ips', 'Remote IPs with handshaking sessions', [], function () {
    this.set(pendingPerIp.size);
  });
  const bump = (map: Map<string, number>, key: string, by: number) => {
    const n = (map.get(key) ?? 0) + by;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  };

  const eio = new EngineServer({
    // Socket.IO's heartbeat with the timings of every other surface (PROTOCOL.md §7)
    pingInterval: config.heartbeatIntervalMs,
    pingTimeout: Math.max(100, config.heartbeatTimeoutMs - config.heartbeatIntervalMs),
    maxHttpBufferSize: MAX_PACKET_BYTES,
    perMessageDeflate: false,
    allowRequest(req, fn) {
      const ip = req.socket.remoteAddress ?? 'unknown';
      if (ctx.connections.count >= config.maxConnections) {
        refused.inc({ reason: 'capacity' });
        fn(ErrorCode.tooManyConnections, false);
      } else if ((pendingPerIp.get(ip) ?? 0) >= config.maxUnauthenticatedPerIp) {
        refused.inc({ reason: 'pending_per_ip' });
        fn(ErrorCode.tooManyConnections, false);
      } else {
        fn(null, true);
      }
    },
  });

  let adapterClient: Redis | undefined;
  const engine = ctx.engine as typeof ctx.engine & { client?: Redis };
  if (engine.kind === 'redis' && engine.client) {
    // the adapter blocks on XREAD and keeps its own subscriptions: never share our command client
    adapterClient = coalesceWrites(engine.client.duplicate({ connectionName: 'p3-sio' }));
    adapterClient.on('error', (e) => ctx.logger.warn({ err: e.message }, 'socket.io adapter redis error'));
  }
  const io: MsgServer = new Server({
    path: MESSAGING_PATH,
    serveClient: false,
    connectTimeout: config.authTimeoutMs,
    cleanupEmptyChildNamespaces: true,
    ...(config.recoveryMs > 0
      ? {
          // skipMiddlewares false: a recovered socket shows its token again and counts against the limits
          connectionStateRecovery: { maxDisconnectionDuration: config.recoveryMs, skipMiddlewares: false },
        }
      : {}),
    ...(adapterClient
      ? { adapter: createAdapter(adapterClient, { streamName: 'p3:socket.io', onlyPlaintext: true }) }
      : {}),
  });
  io.bind(eio);
  if (config.recoveryMs > 0) {
    guardRecovery({
      io,
      engine: ctx.engine,
      recoveryMs: config.recoveryMs,
      now: ctx.now,
      verify: (token) => ctx.auth.tokens.verify(token),
      logger: ctx.logger,
    });
  }

  // engine sessions count against the node budget from their first request; they stay
  // "pending" for their IP until a namespace connection is authenticated
  const pendingIp = new Map<EngineSocket, string>();
  const settle = (conn: EngineSocket) => {
    const ip = pendingIp.get(conn);
    if (ip === undefined) return;
    pendingIp.delete(conn);
    bump(pendingPerIp, ip, -1);
  };
  // a shared listener (`this` is the engine socket): no closure per connection. On the
  // engine socket, not its WebSocket: a session the server ends (ping timeout, slow reader,
  // connect timeout) closes there at once, while a dead peer's WebSocket takes ws's 30 s
  // close handshake to say so, and its slot would stay taken that long
  function onEngineClose(this: EngineSocket) {
    settle(this);
    ctx.connections.release();
  }
  eio.on('connection', (conn: EngineSocket) => {
    if (!ctx.connections.tryAcquire()) {
      refused.inc({ reason: 'capacity' });
      conn.close();
      return;
    }
    const ip = conn.remoteAddress ?? 'unknown';
    bump(pendingPerIp, ip, 1);
    pendingIp.set(conn, ip);
    conn.on('close', onEngineClose);
    // a WebSocket session: ws has its own 'error' listener on the TCP socket by now
    if ((conn.transport as { name?: string }).name === 'websocket') handOver(conn.request.socket);
  });

  io.use(async (socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown; receiptsSince?: unknown } | undefined;
    const token = typeof auth?.token === 'string' ? auth.token : bearerOf(socket.request);
    const identity = token ? await ctx.auth.tokens.verify(token).catch(() => null) : null;
    if (!identity) {
      refused.inc({ reason: 'unauthorized' });
      next(refusal(ErrorCode.unauthorized, 'A valid token is required (handshake auth.token)'));
      return;
    }
    if ((perAddress.get(identity.address) ?? 0) >= config.maxConnectionsPerAddress) {
      refused.inc({ reason: 'per_address' });
      next(refusal(ErrorCode.tooManyConnections, 'Too many connections for this address'));
      return;
    }
    // a recovered session keeps its rooms: only its own address may take it over
    const previous = socket.recovered ? (socket.data as Partial<SocketData> | undefined) : undefined;
    if (previous?.address !== undefined && previous.address !== identity.address) {
      refused.inc({ reason: 'unauthorized' });
      next(refusal(ErrorCode.unauthorized, 'This session belongs to another address'));
      return;
    }
    socket.data = { address: identity.address, expiresAt: identity.expiresAt };
    if (previous?.leftAt !== undefined) socket.data.leftAt = previous.leftAt;
    const since = auth?.receiptsSince;
    if (typeof since === 'number' && Number.isFinite(since) && since > 0) socket.data.receiptsSince = since;
    // the bearer token is not kept for the life of the connection (≈ 0.3 KB each, and a
    // secret in every heap dump); a reconnect or recovery shows it again
    (socket.handshake as { auth: object }).auth = NO_AUTH;
    delete socket.request.headers.authorization;
    next();
  });
  io.on('connection', (socket) => {
    settle(socket.conn as EngineSocket);
    bump(perAddress, socket.data.address, 1);
  });

  ctx.onRequestPrefix(`${MESSAGING_PATH}/`, (req, res) => eio.handleRequest(req, res));
  ctx.onUpgrade(`${MESSAGING_PATH}/`, (req, socket, head) => eio.handleUpgrade(req, socket, head));

  // bearer tokens expire: a socket outliving its token is disconnected (clients reconnect with a new one)
  const sweep = setInterval(() => {
    const t = ctx.now();
    for (const s of io.of('/').sockets.values()) {
      if (s.data.expiresAt <= t) {
        s.emit('error', { code: ErrorCode.unauthorized, message: 'Token expired' });
        s.disconnect(true);
      }
    }
  }, config.heartbeatIntervalMs);
  sweep.unref();

  const slow = metrics.counter(
    'p3_messaging_slow_consumers_total',
    'Sockets dropped with a full send buffer',
  );
  return {
    io,
    eio,
    unsentBytes,
    detach(socket) {
      bump(perAddress, socket.data.address, -1);
    },
    writable(socket) {
      const bytes = unsentBytes(socket, config.sendBufferBytes);
      if (bytes <= config.sendBufferBytes) return true;
      slow.inc();
      ctx.logger.warn({ address: socket.data.address, bytes }, 'messaging: slow consumer dropped');
      socket.disconnect(true);
      return false;
    },
    async closeSockets() {
      clearInterval(sweep);
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
      });
    },
    async release() {
      if (adapterClient) {
        await adapterClient.quit().catch(() => undefined);
        adapterClient.disconnect();
      }
    },
  };
}

/**
 * Connection-state recovery restores a session to whoever presents its `pid` and offset,
 * and Socket.IO writes the session's missed room events while it builds the socket,
 * before any middleware runs (and the Redis adapter deletes the saved session as it
 * reads it). So the owner is checked before the session is touched: when a socket
 * leaves, the address that owns its session is kept in the engine for the recovery
 * window; a recovering connection whose token names another address (or none, or an
 * unknown session) starts a fresh session instead, and the saved one stays for its owner.
 * Wraps Socket.IO's namespace `_createSocket` (4.x); without it (an error at start-up),
 * the auth middleware's refusal is the only check.
 */
function guardRecovery(deps: {
  io: MsgServer;
  engine: SurfaceContext['engine'];
  recoveryMs: number;
  now: () => number;
  verify: (token: string) => Promise<{ address: Address } | null>;
  logger: SurfaceContext['logger'];
}): void {
  type Auth = { pid?: unknown; offset?: unknown; token?: unknown };
  type Client = { request: IncomingMessage };
  const { io, engine } = deps;
  const ownerKey = (pid: string) => `sio:owner:${pid}`;
  const nsp = io.of('/') as unknown as {
    _createSocket?: (client: Client, auth: Auth) => Promise<unknown>;
  };
  // runs before Socket.IO saves the session: a recovery then knows when it left (receipts
  // since then are replayed) and who owns it
  function onDisconnecting(this: MsgSocket) {
    this.data.leftAt = deps.now();
    const pid = (this as unknown as { pid?: unknown }).pid;
    if (typeof pid !== 'string') return;
    engine
      .set(ownerKey(pid), this.data.address, deps.recoveryMs)
      .catch((e) =>
        deps.logger.warn({ err: e }, 'could not record a session owner (its recovery will start fresh)'),
      );
  }
  io.on('connection', (socket) => socket.on('disconnecting', onDisconnecting));
  const create = nsp._createSocket?.bind(nsp);
  if (!create) {
    deps.logger.error(
      'Socket.IO has no namespace _createSocket: recovered sessions are checked by the middleware only',
    );
    return;
  }
  nsp._createSocket = async (client, auth) => {
    const pid = auth?.pid;
    if (typeof pid !== 'string' || typeof auth.offset !== 'string') return create(client, auth);
    const token = typeof auth.token === 'string' ? auth.token : bearerOf(client.request);
    const [identity, owner] = await Promise.all([
      token ? deps.verify(token).catch(() => null) : null,
      engine.get(ownerKey(pid)).catch(() => null),
    ]);
    if (!identity || owner !== identity.address) {
      return create(client, { ...auth, pid: undefined, offset: undefined });
    }
    return create(client, auth);
  };
}
