import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../helpers/proxy.js';
import { RawWs } from '../helpers/rawws.js';
import { startServer, type TestServer, waitFor } from '../helpers/server.js';
import { signIn } from '../helpers/siwe.js';
import { recordFigure } from './figures.js';

/**
 * Half-open TCP: a proxy stops forwarding without closing (dead NAT, pulled cable). The
 * server must find out by itself, within WS_HEARTBEAT_INTERVAL + WS_HEARTBEAT_TIMEOUT
 * (plus one sweep), and free the connection.
 */
const INTERVAL = 200;
const TIMEOUT = 600;

describe('half-open TCP connections', () => {
  let t: TestServer;
  let token: string;
  beforeAll(async () => {
    t = await startServer({ heartbeatIntervalMs: INTERVAL, heartbeatTimeoutMs: TIMEOUT });
    ({ token } = await signIn(t.url));
  });
  afterAll(() => t.close());

  const surfaces: [string, (port: number) => Promise<() => void>][] = [
    [
      '/signaling',
      async (port) => {
        const ws = await RawWs.open(port, `/signaling?token=${token}`);
        await ws.waitText((x) => x.includes('auth_ok'));
        return () => ws.destroy();
      },
    ],
    [
      '/pulse/stream',
      async (port) => {
        const ws = await RawWs.open(port, `/pulse/stream?token=${token}`);
        await ws.waitText((x) => x.includes('auth_ok'));
        return () => ws.destroy();
      },
    ],
  ];

  it.each(surfaces)('%s: a frozen connection is dropped within interval + timeout', async (surface, open) => {
    const proxy = await startProxy(t.port);
    const cleanup = await open(proxy.port);
    const frozenAt = Date.now();
    proxy.freeze();
    await proxy.upstreamClosed();
    const detectedMs = Date.now() - frozenAt;
    recordFigure('half-open', {
      scenario: `Half-open TCP on ${surface}`,
      reference:
        'RFC 6455 ping/pong keep-alive (as Centrifugo, Socket.IO): dead peers found within interval + timeout',
      measured: `frozen link detected and closed after ${detectedMs} ms (interval ${INTERVAL} + timeout ${TIMEOUT} ms)`,
      numbers: { detectedMs, limitMs: INTERVAL + TIMEOUT + INTERVAL },
    });
    // one sweep of slack: the sweep runs every interval
    expect(detectedMs).toBeLessThanOrEqual(INTERVAL + TIMEOUT + INTERVAL + 500);
    cleanup();
    await proxy.close();
    await waitFor(async () => (await fetch(`${t.url}/healthz`)).status === 200);
  });

  it('/socket.io: a frozen client is found by the ping/pong and goes offline for others', async () => {
    const watcher = await signIn(t.url);
    const victim = await signIn(t.url);
    const proxy = await startProxy(t.port);
    const connectVia = (port: number, tok: string) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = io(`http://127.0.0.1:${port}`, {
          auth: { token: tok },
          transports: ['websocket'],
          reconnection: false,
        });
        socket.once('connect', () => resolve(socket));
        socket.once('connect_error', reject);
      });
    const v = await connectVia(proxy.port, victim.token);
    const w = await connectVia(t.port, watcher.token);
    let offlineAt = 0;
    w.on('presence:update', (p: { address: string; status: string }) => {
      if (p.address === victim.address && p.status === 'offline' && !offlineAt) offlineAt = Date.now();
    });
    const ack = await w.timeout(5_000).emitWithAck('presence:subscribe', { addresses: [victim.address] });
    expect(ack.ok).toBe(true);
    expect(ack.presence[0].status).toBe('online');
    const frozenAt = Date.now();
    proxy.freeze();
    await waitFor(() => offlineAt > 0, { timeoutMs: 10_000, what: 'the victim to go offline' });
    const detectedMs = offlineAt - frozenAt;
    recordFigure('half-open', {
      scenario: 'Half-open TCP on /socket.io',
      reference: 'Socket.IO pingInterval + pingTimeout: dead clients disconnected within both',
      measured: `frozen client seen offline by others after ${detectedMs} ms (interval ${INTERVAL} + timeout ${TIMEOUT} ms)`,
      numbers: { detectedMs, limitMs: INTERVAL + TIMEOUT },
    });
    expect(detectedMs).toBeLessThanOrEqual(INTERVAL + TIMEOUT + 500);
    v.close();
    w.close();
    await proxy.close();
  });
});
