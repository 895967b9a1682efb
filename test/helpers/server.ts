import { randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../../src/server/config.js';
import type { Engine } from '../../src/server/engine/types.js';
import { createRealtimeServer, type RealtimeServer } from '../../src/server/index.js';

export const TEST_DOMAIN = 'p3.test';
export const TEST_SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const TEST_SERVICE_KEY = 'service-key-0123456789';
export const REDIS_URL = process.env.P3_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestServer {
  server: RealtimeServer;
  url: string;
  wsUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a real server on a free loopback port, silent, with test credentials. */
export async function startServer(
  config: Partial<Config> = {},
  options: { engine?: Engine; now?: () => number } = {},
): Promise<TestServer> {
  const server = await createRealtimeServer({
    env: {},
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.now ? { now: options.now } : {}),
    config: {
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      siweDomain: TEST_DOMAIN,
      authSecret: TEST_SECRET,
      serviceKey: TEST_SERVICE_KEY,
      ...config,
    },
  });
  const { port } = await server.listen();
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    close: () => server.close({ drainMs: 500 }),
  };
}

/** The shared test Redis (keys of different tests never collide: ids and addresses are random). */
export function redisConfig(): Partial<Config> {
  return { redisUrl: REDIS_URL };
}

export function uniqueId(prefix = 'id'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}-${randomBytes(2).toString('hex')}`;
}

/** Two server nodes sharing one Redis. */
export async function startCluster(config: Partial<Config> = {}): Promise<[TestServer, TestServer]> {
  const a = await startServer({ redisUrl: REDIS_URL, ...config });
  const b = await startServer({ redisUrl: REDIS_URL, ...config });
  return [a, b];
}

export async function waitFor<T>(
  cond: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 10, what = 'condition' } = {},
): Promise<NonNullable<T>> {
  const start = Date.now();
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
