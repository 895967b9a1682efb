import { randomUUID } from 'node:crypto';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { ErrorCode, RATE_LIMIT_MESSAGE } from '../../protocol/errors.js';
import { type Identity, SiweError } from '../auth/index.js';
import { handOver, peerIp } from '../http/upgrade-socket.js';
import { inSlices, SLICE } from '../limits/slices.js';
import { msClock, refill } from '../limits/token-bucket.js';
import type { SurfaceContext } from '../surface.js';

/** How a first frame asks to authenticate. */
export type AuthRequest = { token: string } | { message: string; signature: string };

/** One WebSocket connection as a surface sees it. */
export interface WsConnection {
  /** Unique per connection: the signaling peerId. */
  readonly id: string;
  identity: Identity | undefined;
  readonly open: boolean;
  /** Bytes queued on the socket and not yet sent (for coalescing to slow readers). */
  readonly bufferedAmount: number;
  /** Serialises and sends; false when the socket is closed or was dropped as a slow reader. */
  send(frame: unknown): boolean;
  /** Sends an already serialised frame (serialise once, send to many), as text or its UTF-8 bytes. */
  sendText(text: string | Buffer): boolean;
  error(code: string, message: string): void;
  close(code: number, reason: string): void;
}

export interface WsEndpointOptions {
  path: string;
  /** Metric label and log name. */
  surface: string;
  /** Recognises an auth frame and returns its credentials; `null` for a malformed one. */
  authFrame(frame: Record<string, unknown>): AuthRequest | null | undefined;
  /** Frame types served before authentication (pings). */
  publicTypes?: string[];
  /** Called once the connection is authenticated (send `auth_ok` here). */
  onAuthenticated(conn: WsConnection, token: string): void | Promise<void>;
  /** Every parsed frame that is not an auth frame, from an authenticated connection or of a public type. */
  onFrame(conn: WsConnection, frame: Record<string, unknown> & { type: string }): void | Promise<void>;
  /**
   * Offered each text frame of an authenticated connection before it is parsed (after the
   * rate limit): true when it handled the frame from its bytes, false to have it parsed and
   * given to onFrame. `bytes` may be a view into the socket's read buffer: copy what is kept.
   */
  rawFrame?(conn: WsConnection, bytes: Buffer): boolean;
  onClose?(conn: WsConnection): void | Promise<void>;
  /** Called on every sweep (WS_HEARTBEAT_INTERVAL): renew leases here. */
  onSweep?(conns: ReadonlySet<WsConnection>): void | Promise<void>;
}

export interface WsEndpoint {
  readonly connections: ReadonlySet<WsConnection>;
  close(): Promise<void>;
}

/** How long a peer has to answer our close frame before the socket is dropped. */
const CLOSE_HANDSHAKE_MS = 2_000;
/** Frames kept while a connection's first authentication is checked. */
const MAX_HELD_FRAMES = 32;

/** The connection of each socket, for listeners shared by every socket (no closures per connection). */
const CONN = Symbol('p3.conn');
type TaggedSocket = WebSocket & { [CONN]?: Conn };

/** The endpoint-wide parts a connection needs (one object per endpoint, shared). */
interface Shared {
  sendBufferBytes: number;
  rate: number;
  burst: number;
  /** Whole ms since the endpoint started (small integers: see Conn). */
  clock: () => number;
  framesOut: { inc(): void };
  errors: { inc(labels: { code: string }): void };
  slowConsumer(conn: Conn): void;
}

/**
 * One connection. A class, so its methods live once on the prototype: an idle connection
 * costs its fields, not a dictionary of closures (measured by `npm run bench`).
 */
class Conn implements WsConnection {
  identity: Identity | undefined = undefined;
  /**
   * Times are whole ms since the endpoint started (`shared.clock()`) and the bucket counts
   * thousandths of a token: small integers, kept in the object itself, where an epoch-ms
   * or fractional number is a separate 16-byte heap box per field and connection.
   */
  seenAt: number;
  authTimer: NodeJS.Timeout | undefined = undefined;
  authenticating = false;
  /** Frames that arrived while the first authentication was being checked. */
  held: (Record<string, unknown> & { type: string })[] | undefined = undefined;
  /** The per-connection token bucket, inline (P3_RATE_LIMIT per second, P3_RATE_BURST). */
  milliTokens: number;
  tokensAt: number;

  constructor(
    readonly id: string,
    /** The IP it counts against until it authenticates (then dropped: its string is 32 bytes). */
    public pendingIp: string | undefined,
    readonly ws: WebSocket,
    readonly shared: Shared,
  ) {
    this.seenAt = shared.clock();
    this.milliTokens = shared.burst * 1000;
    this.tokensAt = this.seenAt;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Takes one frame's token; false when the connection is over its rate. */
  take(): boolean {
    const t = this.shared.clock();
    this.milliTokens = refill(this.milliTokens, t - this.tokensAt, this.shared.rate, this.shared.burst);
    this.tokensAt = t;
    if (this.milliTokens < 1000) return false;
    this.milliTokens -= 1000;
    return true;
  }

  send(frame: unknown): boolean {
    return this.sendText(JSON.stringify(frame));
  }

  sendText(text: string | Buffer): boolean {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount > this.shared.sendBufferBytes) {
      // a reader that stopped reading: drop it rather than grow this process's memory
      this.shared.slowConsumer(this);
      return false;
    }
    ws.send(text, TEXT_FRAME);
    this.shared.framesOut.inc();
    return true;
  }

  error(code: string, message: string): void {
    this.shared.errors.inc({ code });
    this.send({ type: 'error', data: { code, message } });
  }

  close(code: number, reason: string): void {
    const ws = this.ws;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      ws.close(code, reason);
      // a peer that never answers the close frame must not hold its slot for ws's 30 s
      setTimeout(terminate, CLOSE_HANDSHAKE_MS, ws).unref();
    }
  }
}

const terminate = (ws: WebSocket) => ws.terminate();
/** Every frame we send is JSON text, also when handed over as bytes. */
const TEXT_FRAME = { binary: false } as const;

/**
 * A WebSocket endpoint with the limits every p3 socket surface shares: Origin (checked at
 * upgrade by the HTTP layer), connection caps, the auth deadline, frame size (ws's
 * maxPayload closes with 1009), per-connection rate limit, heartbeat sweep with ping
 * frames, a cap on unsent bytes, and JSON parsing with `bad_request` answers.
 * permessage-deflate is off: no compression bombs, and no zlib cost per frame.
 */
export function createWsEndpoint(ctx: SurfaceContext, options: WsEndpointOptions): WsEndpoint {
  const { config, metrics, logger, now } = ctx;
  const publicTypes = new Set(options.publicTypes ?? []);
  const log = logger.child({ surface: options.surface });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const conns = new Set<Conn>();
  const perAddress = new Map<string, number>();
  const pendingPerIp = new Map<string, number>();

  const m = {
    framesIn: metrics.tally(`p3_${options.surface}_frames_in_total`, 'Frames received'),
    framesOut: metrics.tally(`p3_${options.surface}_frames_out_total`, 'Frames sent'),
    errors: metrics.counter(`p3_${options.surface}_errors_total`, 'Error frames sent by code', ['code']),
    closed: metrics.counter(`p3_${options.surface}_closed_total`, 'Connections closed by reason', ['reason']),
    refused: metrics.counter(`p3_${options.surface}_refused_total`, 'Connections refused by reason', [
      'reason',
    ]),
  };
  // counted when scraped, not on every connect and close (an O(n) walk per event is O(n²)
  // in a reconnect storm)
  metrics.gauge(`p3_${options.surface}_connections`, 'Open WebSocket connections', ['state'], function () {
    let authed = 0;
    for (const c of conns) if (c.identity) authed++;
    this.set({ state: 'authenticated' }, authed);
    this.set({ state: 'pending' }, conns.size - authed);
  });

  const inc = (map: Map<string, number>, key: string, by: number) => {
    const n = (map.get(key) ?? 0) + by;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  };

  function refuse(socket: import('node:stream').Duplex, status: number, code: string, message: string) {
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status} ${status === 429 ? 'Too Many Requests' : 'Service Unavailable'}\r\n` +
        `Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  ctx.onUpgrade(options.path, (req, socket, head, url) => {
    const ip = peerIp(req.socket);
    if (!ctx.connections.tryAcquire()) {
      m.refused.inc({ reason: 'capacity' });
      refuse(socket, 503, ErrorCode.tooManyConnections, 'Server connection limit reached');
      return;
    }
    if ((pendingPerIp.get(ip) ?? 0) >= config.maxUnauthenticatedPerIp) {
      ctx.connections.release();
      m.refused.inc({ reason: 'pending_per_ip' });
      refuse(
        socket,
        429,
        ErrorCode.tooManyConnections,
        'Too many unauthenticated connections from this address',
      );
      return;
    }
    // the token is read now: nothing of the request URL stays alive with the connection
    const queryToken = url.searchParams.get('token');
    wss.handleUpgrade(req, socket, head, (ws) => {
      handOver(socket);
      accept(ws, ip, queryToken);
    });
  });

  const shared: Shared = {
    sendBufferBytes: config.sendBufferBytes,
    rate: config.rateLimit,
    burst: config.rateBurst,
    clock: msClock(now),
    framesOut: m.framesOut,
    errors: m.errors,
    slowConsumer(conn) {
      m.closed.inc({ reason: 'slow_consumer' });
      log.warn({ peerId: conn.id, buffered: conn.ws.bufferedAmount }, 'slow consumer dropped');
      conn.ws.terminate();
    },
  };

  // one listener function of each kind for every socket: `this` is the socket
  function onPong(this: TaggedSocket) {
    const conn = this[CONN];
    if (conn) conn.seenAt = shared.clock();
  }
  function onWsMessage(this: TaggedSocket, data: RawData, isBinary: boolean) {
    const conn = this[CONN];
    if (conn) onMessage(conn, data, isBinary);
  }
  function onWsError(error: Error) {
    // ws reports protocol violations here (and closes with 1002/1007/1009 itself)
    m.closed.inc({ reason: (error as { code?: string }).code ?? 'error' });
  }
  function onWsClose(this: TaggedSocket) {
    const conn = this[CONN];
    if (!conn) return;
    clearTimeout(conn.authTimer);
    conn.authTimer = undefined;
    conns.delete(conn);
    ctx.connections.release();
    if (conn.identity) inc(perAddress, conn.identity.address, -1);
    else unpend(conn);
    Promise.resolve(options.onClose?.(conn)).catch((error) =>
      log.error({ err: error, peerId: conn.id }, 'close handler failed'),
    );
  }
  /** The connection no longer counts as unauthenticated for its IP. */
  function unpend(conn: Conn) {
    if (conn.pendingIp !== undefined) inc(pendingPerIp, conn.pendingIp, -1);
    conn.pendingIp = undefined;
  }
  function authDeadline(conn: Conn) {
    conn.authTimer = undefined;
    if (!conn.identity) {
      m.closed.inc({ reason: 'auth_timeout' });
      conn.error(ErrorCode.notAuthenticated, 'Authentication timed out');
      conn.close(1008, 'authentication timeout');
    }
  }

  function accept(ws: TaggedSocket, ip: string, queryToken: string | null) {
    inc(pendingPerIp, ip, 1);
    const conn = new Conn(randomUUID(), ip, ws, shared);
    ws[CONN] = conn;
    conns.add(conn);
    conn.authTimer = setTimeout(authDeadline, config.authTimeoutMs, conn);
    conn.authTimer.unref?.();
    ws.on('pong', onPong);
    ws.on('message', onWsMessage);
    ws.on('error', onWsError);
    ws.on('close', onWsClose);
    if (queryToken) void authenticate(conn, { token: queryToken });
  }

  async function authenticate(conn: Conn, request: AuthRequest) {
    if (conn.authenticating) {
      conn.error(ErrorCode.badRequest, 'Authentication already in progress');
      return;
    }
    conn.authenticating = true;
    try {
      let token: string;
      if ('token' in request) token = request.token;
      else token = (await ctx.auth.signIn(request.message, request.signature)).token;
      const identity = await ctx.auth.tokens.verify(token);
      if (!conn.open) return;
      if (!identity) throw new SiweError('token', 'Token is invalid or expired');
      // a token refresh on a live connection is not a new connection of its address
      if (!conn.identity && (perAddress.get(identity.address) ?? 0) >= config.maxConnectionsPerAddress) {
        m.refused.inc({ reason: 'per_address' });
        conn.error(ErrorCode.tooManyConnections, 'Too many connections for this address');
        conn.close(1008, 'too many connections');
        return;
      }
      if (conn.identity) {
        // re-authentication (token refresh) on a live connection: same address only
        if (conn.identity.address !== identity.address) {
          conn.error(ErrorCode.authFailed, 'A connection cannot change its address');
          return;
        }
        conn.identity = identity;
        await options.onAuthenticated(conn, token);
        return;
      }
      conn.identity = identity;
      clearTimeout(conn.authTimer);
      conn.authTimer = undefined;
      unpend(conn);
      inc(perAddress, identity.address, 1);
      await options.onAuthenticated(conn, token);
    } catch (error) {
      if (!(error instanceof SiweError)) log.error({ err: error }, 'authentication failed unexpectedly');
      m.closed.inc({ reason: 'auth_failed' });
      conn.error(ErrorCode.authFailed, error instanceof SiweError ? error.message : 'Authentication failed');
      // a live connection keeps its earlier identity; a first authentication that fails ends it
      if (!conn.identity) conn.close(1008, 'authentication failed');
    } finally {
      conn.authenticating = false;
      // frames sent right after `?token=` run now, in order
      const held = conn.held;
      conn.held = undefined;
      // already counted by the rate limit and parsed when they arrived
      if (conn.identity && held) for (const f of held) dispatch(conn, f);
    }
  }

  function onMessage(conn: Conn, data: RawData, isBinary: boolean) {
    conn.seenAt = shared.clock();
    m.framesIn.inc();
    if (!conn.take()) {
      m.errors.inc({ code: ErrorCode.rateLimited });
      conn.send({ type: 'error', data: { code: ErrorCode.rateLimited, message: RATE_LIMIT_MESSAGE } });
      return;
    }
    if (isBinary) {
      conn.error(ErrorCode.badRequest, 'Frames must be JSON text');
      return;
    }
    if (conn.identity && options.rawFrame && Buffer.isBuffer(data) && options.rawFrame(conn, data)) return;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      conn.error(ErrorCode.badRequest, 'Frame is not valid JSON');
      return;
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
      conn.error(ErrorCode.badRequest, 'Frame must be a JSON object');
      return;
    }
    const f = frame as Record<string, unknown>;
    if (typeof f.type !== 'string') {
      conn.error(ErrorCode.badRequest, 'Frame needs a string "type"');
      return;
    }
    if (f.type === 'auth') {
      const request = options.authFrame(f);
      if (!request) {
        conn.error(ErrorCode.badRequest, 'auth needs a token, or a SIWE message and signature');
        return;
      }
      void authenticate(conn, request);
      return;
    }
    if (!conn.identity && !publicTypes.has(f.type)) {
      if (conn.authenticating) {
        // sent right after `?token=` (a client need not wait for auth_ok): run once it is done
        conn.held ??= [];
        if (conn.held.length >= MAX_HELD_FRAMES) {
          conn.error(ErrorCode.rateLimited, RATE_LIMIT_MESSAGE);
          return;
        }
        conn.held.push(f as Record<string, unknown> & { type: string });
        return;
      }
      conn.error(ErrorCode.notAuthenticated, 'Authenticate first');
      return;
    }
    dispatch(conn, f as Record<string, unknown> & { type: string });
  }

  function dispatch(conn: Conn, f: Record<string, unknown> & { type: string }) {
    try {
      const done = options.onFrame(conn, f);
      if (done instanceof Promise) done.catch((error) => frameFailed(conn, error));
    } catch (error) {
      frameFailed(conn, error);
    }
  }

  function frameFailed(conn: Conn, error: unknown) {
    log.error({ err: error, peerId: conn.id }, 'frame handler failed');
    conn.error(ErrorCode.internal, 'The server could not process this frame');
  }

  let sweeping = false;
  let closed = false;
  const sweep = setInterval(() => {
    // the surface's own sweep (leases) runs on its own: an engine that hangs must not stop
    // the pings, heartbeat timeouts and token expiry below (each surface guards its overlap)
    Promise.resolve(options.onSweep?.(conns)).catch((error) => log.error({ err: error }, 'sweep failed'));
    // a ping walk still yielding its way through a large set is not doubled
    if (sweeping) return;
    sweeping = true;
    const t = now();
    const tick = shared.clock();
    inSlices(
      conns,
      SLICE,
      (c) => {
        if (closed) return;
        if (tick - c.seenAt > config.heartbeatTimeoutMs) {
          m.closed.inc({ reason: 'heartbeat_timeout' });
          c.ws.terminate();
          return;
        }
        if (c.identity && c.identity.expiresAt <= t) {
          m.closed.inc({ reason: 'token_expired' });
          c.error(ErrorCode.unauthorized, 'Token expired');
          c.close(1008, 'token expired');
          return;
        }
        if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
      },
      { spreadMs: config.heartbeatIntervalMs / 4 },
    )
      .catch((error) => log.error({ err: error }, 'sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  }, config.heartbeatIntervalMs);
  sweep.unref();

  return {
    connections: conns,
    async close() {
      closed = true;
      clearInterval(sweep);
      const closing = [...conns].map(
        (c) =>
          new Promise<void>((resolve) => {
            c.ws.once('close', () => resolve());
            c.close(1001, 'server shutting down');
            setTimeout(() => {
              c.ws.terminate();
              resolve();
            }, 2_000).unref();
          }),
      );
      await Promise.all(closing);
      wss.close();
    },
  };
}
