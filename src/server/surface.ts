import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthContext } from './auth/index.js';
import type { Config } from './config.js';
import type { Engine } from './engine/types.js';
import type { Router } from './http/router.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;
export type RawRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the composition root hands each surface. */
export interface SurfaceContext {
  config: Config;
  engine: Engine;
  logger: Logger;
  metrics: Metrics;
  auth: AuthContext;
  router: Router;
  httpServer: Server;
  now: () => number;
  /** Sockets of every surface on this node, against P3_MAX_CONNECTIONS. */
  connections: ConnectionBudget;
  /** Registers a WebSocket endpoint: exact path, or a prefix when it ends with '/'. */
  onUpgrade(path: string, handler: UpgradeHandler): void;
  /** Hands every HTTP request under `prefix` to `handler` (e.g. Socket.IO polling). */
  onRequestPrefix(prefix: string, handler: RawRequestHandler): void;
}

/** A surface: one folder under src/server, started by the composition root. */
export interface Surface {
  readonly name: string;
  /** Stops accepting, closes its sockets with 1001 (going away), releases its state. */
  close(): Promise<void>;
}

/** The node-wide socket budget (P3_MAX_CONNECTIONS). */
export interface ConnectionBudget {
  tryAcquire(): boolean;
  release(): void;
  readonly count: number;
}
