import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../protocol/errors.js';
import { type AuthContext, createAuth, mountAuthRoutes } from './auth/index.js';
import { ephemeralSecret } from './auth/tokens.js';
import { type Config, loadConfig } from './config.js';
import { createEngine } from './engine/index.js';
import type { Engine } from './engine/types.js';
import { HttpError, sendError, sendJson } from './http/errors.js';
import { createOriginPolicy } from './http/origin.js';
import { type RouteContext, Router } from './http/router.js';
import { createStaticHandler } from './http/static.js';
import { destroyOnError } from './http/upgrade-socket.js';
import { createLanesSurface, type LanesApi, lanesApi } from './lanes/index.js';
import { createMessagingSurface, type MessagingApi, messagingApi } from './messaging/index.js';
import { createLogger, type Logger, safeUrl } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createPulseSurface } from './pulse/index.js';
import { createSignalingSurface } from './signaling/index.js';
import type { RawRequestHandler, Surface, SurfaceContext, UpgradeHandler } from './surface.js';
import { createWebRTCSurface } from './webrtc/index.js';

export type { Config } from './config.js';
export { ConfigError, configHelp, loadConfig } from './config.js';
export { createMemoryEngine, createRedisEngine } from './engine/index.js';
export type { Engine } from './engine/types.js';

export interface RealtimeServerOptions {
  /** Typed settings; they win over `env`. */
  config?: Partial<Config>;
  /** Environment to read the rest from. @default process.env */
  env?: Record<string, string | undefined>;
  /** An engine to use instead of the one the config asks for (the server closes it). */
  engine?: Engine;
  logger?: Logger;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

export interface RealtimeServer {
  readonly config: Config;
  readonly engine: Engine;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly auth: AuthContext;
  /** Publish to SSE lanes and create lane sessions from embedding code. */
  readonly lanes: LanesApi;
  /** The Socket.IO messaging server (emit to a checksummed address, a room, to reach every device of it). */
  readonly messaging: MessagingApi;
  readonly httpServer: Server;
  /** Starts serving; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | null;
  /** Graceful: stop accepting, close sockets with 1001, drain, release the engine. */
  close(options?: { drainMs?: number }): Promise<void>;
}

type SurfaceFactory = (ctx: SurfaceContext) => Surface | Promise<Surface>;

/** The surfaces in start order. Each is a folder with an index.ts. */
const SURFACES: SurfaceFactory[] = [
  createSignalingSurface,
  createWebRTCSurface,
  createLanesSurface,
  createPulseSurface,
  createMessagingSurface,
];

/**
 * The one composition root: config, engine, logger, metrics, auth, HTTP and the surfaces.
 *
 * @example
 * const server = await createRealtimeServer({ config: { port: 0 } });
 * const { port } = await server.listen();
 * // …
 * await server.close();
 */
export async function createRealtimeServer(options: RealtimeServerOptions = {}): Promise<RealtimeServer> {
  const config = loadConfig(options.env ?? process.env, options.config);
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const now = options.now ?? Date.now;
  const metrics = createMetrics();
  const engine =
    options.engine ??
    createEngine({
      redisUrl: config.redisUrl,
      onError: (e) => logger.warn({ err: e.message }, 'engine connection error'),
    });

  let secret = config.authSecret;
  if (!secret) {
    if (config.redisUrl) throw new Error('P3_AUTH_SECRET is required with REDIS_URL');
    secret = ephemeralSecret();
    logger.warn('P3_AUTH_SECRET is not set: using a random secret; tokens end with this process');
  }
  const auth = createAuth({
    engine,
    secret,
    tokenTtlSec: config.tokenTtlSec,
    siweDomain: config.siweDomain,
    serviceKey: config.serviceKey,
    now,
    logger,
    metrics,
  });

  const router = new Router();
  // the web app: P3_WEB_ROOT, else the one `npm run build` puts in web/dist
  const serveStatic = createStaticHandler(
    config.webRoot ?? fileURLToPath(new URL('../../web/dist', import.meta.url)),
  );
  const upgrades: { path: string; prefix: boolean; handler: UpgradeHandler }[] = [];
  const requestPrefixes: { prefix: string; handler: RawRequestHandler }[] = [];
  const isAllowedOrigin = createOriginPolicy(config.allowedOrigins);
  const remoteKey = (ctx: RouteContext) => ctx.req.socket.remoteAddress ?? 'unknown';
  const httpRequests = metrics.counter('p3_http_requests_total', 'HTTP requests by route and status', [
    'route',
    'status',
  ]);
  const upgradesRefused = metrics.counter('p3_ws_upgrades_refused_total', 'WebSocket upgrades refused', [
    'reason',
  ]);
  let ready = false;
  let closing = false;

  router.get('/healthz', ({ res }) => sendJson(res, closing ? 503 : 200, { ok: !closing }));
  router.get('/readyz', async ({ res }) => {
    const engineOk = await engine.ping();
    const ok = ready && !closing && engineOk;
    sendJson(res, ok ? 200 : 503, { ok, engine: { kind: engine.kind, ok: engineOk } });
  });
  router.get('/metrics', async ({ res }) => {
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
    res.end(text);
  });
  mountAuthRoutes(router, auth, { maxBodyBytes: config.maxBodyBytes, remoteKey });

  const corsHeaders = (req: IncomingMessage): Record<string, string> => {
    const origin = req.headers.origin;
    if (!origin) return {};
    return {
      'Access-Control-Allow-Origin': origin,
      Vary: 'Origin',
      'Access-Control-Expose-Headers': 'Retry-After',
    };
  };

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendError(res, new HttpError(400, ErrorCode.badRequest, 'Malformed request URL'));
      return;
    }
    if (!isAllowedOrigin(req)) {
      httpRequests.inc({ route: 'origin', status: '403' });
      sendError(res, new HttpError(403, ErrorCode.forbidden, 'Origin not allowed'));
      return;
    }
    for (const [k, v] of Object.entries(corsHeaders(req))) res.setHeader(k, v);
    if (req.method === 'OPTIONS' && req.headers.origin) {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Last-Event-ID',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }
    for (const p of requestPrefixes) {
      if (url.pathname.startsWith(p.prefix)) {
        p.handler(req, res);
        return;
      }
    }
    const match = router.match(req.method ?? 'GET', url.pathname);
    if (!match && serveStatic(req, res, url.pathname)) return;
    let route = 'unmatched';
    try {
      if (!match) throw new HttpError(404, ErrorCode.notFound, `No route for ${url.pathname}`);
      if ('allowed' in match) {
        throw new HttpError(405, ErrorCode.methodNotAllowed, `Use ${match.allowed.join(' or ')}`, {
          Allow: match.allowed.join(', '),
        });
      }
      route = match.pattern;
      await match.handler({ req, res, url, params: match.params });
    } catch (error) {
      if (error instanceof HttpError) {
        sendError(res, error);
      } else {
        logger.error({ err: error, url: safeUrl(req.url) }, 'request failed');
        sendError(res, new HttpError(500, ErrorCode.internal, 'Internal error'));
      }
    } finally {
      httpRequests.inc({ route, status: String(res.statusCode) });
    }
  }

  function refuseUpgrade(socket: Duplex, status: number, code: string, message: string) {
    const body = JSON.stringify({ error: { code, message } });
    const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[
      status
    ];
    socket.end(
      `HTTP/1.1 ${status} ${reason ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on('error', destroyOnError);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      refuseUpgrade(socket, 400, ErrorCode.badRequest, 'Malformed request URL');
      return;
    }
    if (closing) {
      upgradesRefused.inc({ reason: 'closing' });
      refuseUpgrade(socket, 503, ErrorCode.unavailable, 'Server is shutting down');
      return;
    }
    if (!isAllowedOrigin(req)) {
      upgradesRefused.inc({ reason: 'origin' });
      logger.warn({ origin: req.headers.origin, path: url.pathname }, 'upgrade refused: origin');
      refuseUpgrade(socket, 403, ErrorCode.forbidden, 'Origin not allowed');
      return;
    }
    const path = url.pathname;
    const target = upgrades.find((u) => (u.prefix ? path.startsWith(u.path) : u.path === path));
    if (!target) {
      upgradesRefused.inc({ reason: 'path' });
      refuseUpgrade(socket, 404, ErrorCode.notFound, `No WebSocket endpoint at ${url.pathname}`);
      return;
    }
    target.handler(req, socket, head, url);
  }

  const httpServer = createServer({
    keepAliveTimeout: 5_000,
    // slowloris: headers must arrive within P3_HEADERS_TIMEOUT, checked every second
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: Math.max(30_000, config.headersTimeoutMs),
    connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
  });
  // every TCP connection counts, also the ones that never finish a request
  httpServer.maxConnections = config.maxConnections + 1_000;
  httpServer.on('request', (req, res) => {
    void handleRequest(req, res);
  });
  httpServer.on('upgrade', handleUpgrade);
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // answer, then release the socket even if the peer never reads or closes (slowloris)
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(
      timeout
        ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'
        : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
      () => socket.destroy(),
    );
    setTimeout(() => socket.destroy(), 1_000).unref();
  });

  let openSockets = 0;
  metrics.gauge('p3_sockets_open', 'Sockets of every surface on this node', [], function () {
    this.set(openSockets);
  });
  const ctx: SurfaceContext = {
    config,
    connections: {
      tryAcquire() {
        if (openSockets >= config.maxConnections) return false;
        openSockets++;
        return true;
      },
      release() {
        openSockets = Math.max(0, openSockets - 1);
      },
      get count() {
        return openSockets;
      },
    },
    engine,
    logger,
    metrics,
    auth,
    router,
    httpServer,
    now,
    onUpgrade(path, handler) {
      upgrades.push({ path, prefix: path.endsWith('/'), handler });
    },
    onRequestPrefix(prefix, handler) {
      requestPrefixes.push({ prefix, handler });
    },
  };
  const surfaces: Surface[] = [];
  try {
    for (const make of SURFACES) surfaces.push(await make(ctx));
  } catch (error) {
    await Promise.allSettled(surfaces.map((s) => s.close()));
    await engine.close();
    throw error;
  }

  let closed: Promise<void> | undefined;
  const server: RealtimeServer = {
    config,
    engine,
    logger,
    metrics,
    auth,
    lanes: lanesApi(surfaces),
    messaging: messagingApi(surfaces),
    httpServer,
    listen() {
      return new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', reject);
          ready = true;
          const addr = httpServer.address() as AddressInfo;
          logger.info({ port: addr.port, host: addr.address, engine: engine.kind }, 'p3-realtime listening');
          resolve(addr);
        });
      });
    },
    address() {
      const a = httpServer.address();
      return a && typeof a === 'object' ? a : null;
    },
    close({ drainMs = 5_000 } = {}) {
      closed ??= (async () => {
        closing = true;
        ready = false;
        const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        await Promise.allSettled(surfaces.map((s) => s.close()));
        // responses that end while draining (SSE streams, slow requests) leave keep-alive
        // sockets behind: release each as soon as it is idle, everything at the deadline
        const idle = setInterval(() => httpServer.closeIdleConnections(), 100);
        httpServer.closeIdleConnections();
        const timer = setTimeout(() => httpServer.closeAllConnections(), drainMs);
        timer.unref();
        await stopped;
        clearInterval(idle);
        clearTimeout(timer);
        await engine.close();
        logger.info('p3-realtime stopped');
      })();
      return closed;
    },
  };
  return server;
}
