import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { setupMaster, setupWorker } from '@socket.io/sticky';
import { pino } from 'pino';
import type { Server as SocketIoServer } from 'socket.io';
import type { Config } from './config.js';
import { createRealtimeServer } from './index.js';
import { createLogger, REDACT_PATHS } from './observability/logger.js';

const READY = 'p3:shard-ready';
const LISTENING = 'p3-realtime listening';

/**
 * The shard manager: P3_SHARDS worker processes behind one port.
 *
 * Socket.IO's long-polling sends each HTTP request of a session separately, and only the
 * worker that did the handshake knows the session, so plain round-robin (node:cluster's
 * default) breaks every client that starts on polling, which is the Socket.IO default.
 * The primary therefore owns the port and routes each connection itself with
 * `@socket.io/sticky`: a request naming a session (`sid=`) goes to that session's
 * worker; anything else (new sessions, WebSocket upgrades of the other surfaces, REST,
 * SSE) goes to the worker with the fewest sessions, which balances connections. Workers
 * share every other state through Redis, so any worker serves any non-Socket.IO request.
 * A worker that dies is replaced; its clients reconnect (to any worker).
 */
export async function runShards(config: Config): Promise<number> {
  return cluster.isPrimary ? runPrimary(config) : runWorker(config);
}

async function runPrimary(config: Config): Promise<number> {
  const logger = createLogger({ level: config.logLevel }).child({ role: 'shard-manager' });
  // the sticky protocol passes Buffers between processes
  cluster.setupPrimary({ serialization: 'advanced' });
  let stopping = false;
  let started = false;
  const ready = new Set<number>();
  const fork = (): Worker => cluster.fork();
  cluster.on('message', (worker, message: { type?: string }) => {
    if (message?.type === READY) ready.add(worker.id);
  });
  const failed = new Promise<number>((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      ready.delete(worker.id);
      if (stopping) return;
      if (!started) {
        // a shard that cannot start (bad Redis URL, port…) would fail again: give up
        logger.error({ worker: worker.process.pid, code, signal }, 'a shard failed to start');
        stopping = true;
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
        resolve(1);
        return;
      }
      logger.warn({ worker: worker.process.pid, code, signal }, 'shard exited; starting a new one');
      fork();
    });
  });
  for (let i = 0; i < config.shards; i++) fork();
  const allReady = new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (ready.size >= config.shards || stopping) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  if ((await Promise.race([allReady.then(() => 0), failed])) !== 0 || stopping) return 1;
  started = true;

  const httpServer = createServer();
  setupMaster(httpServer, { loadBalancingMethod: 'least-connection' });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const addr = httpServer.address();
  const port = addr && typeof addr === 'object' ? addr.port : config.port;
  logger.info({ port, host: config.host, shards: config.shards }, LISTENING);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      stopping = true;
      logger.info({ signal }, 'stopping shards');
      httpServer.close();
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

async function runWorker(config: Config): Promise<number> {
  // The worker's own listener is internal (loopback, any port): clients reach it only
  // through connections the primary hands over. Its start-up line is renamed so that
  // the one "listening" line with the public port is the primary's.
  const logger = pino({
    level: config.logLevel,
    base: { pid: process.pid, shard: cluster.worker?.id },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: {
      logMethod(args, method) {
        if (args[1] === LISTENING) args[1] = 'shard ready (internal listener)';
        method.apply(this, args as Parameters<typeof method>);
      },
    },
  });
  const server = await createRealtimeServer({
    config: { ...config, shards: 1, port: 0, host: '127.0.0.1' },
    logger,
  });
  // setupWorker needs only these two members of a Socket.IO server: where to inject the
  // connections the primary hands over, and the engine whose sessions it reports
  setupWorker({
    httpServer: server.httpServer,
    engine: server.messaging.engineIo,
  } as unknown as SocketIoServer);
  await server.listen();
  process.send?.({ type: READY });
  await new Promise<void>((resolve) => {
    const stop = () => void server.close().finally(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}
