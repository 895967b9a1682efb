import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBackoffPolicy, DEFAULT_RECONNECT_STEPS_MS } from '../src/client/backoff.js';
import { createReconnectingSocket, type StateChange } from '../src/client/socket.js';
import { FakeWebSocket, FakeWebSocketCtor } from './helpers/client.js';

describe('backoff policy', () => {
  it('follows the seed steps 1, 2, 4, 8, 16 s and stays at 16 s', () => {
    const p = createBackoffPolicy({ jitter: 'none' });
    const delays = [0, 1, 2, 3, 4, 5, 9].map((retryCount) =>
      p.nextRetryDelayInMs({ retryCount, elapsedMs: 0 }),
    );
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 16000, 16000]);
    expect(DEFAULT_RECONNECT_STEPS_MS).toEqual([1000, 2000, 4000, 8000, 16000]);
  });

  it('full jitter: uniform in [0, step) at both ends of the random range', () => {
    const lo = createBackoffPolicy({ random: () => 0 });
    const hi = createBackoffPolicy({ random: () => 0.999999 });
    for (const [i, step] of [1000, 2000, 4000, 8000, 16000].entries()) {
      expect(lo.nextRetryDelayInMs({ retryCount: i, elapsedMs: 0 })).toBe(0);
      const d = hi.nextRetryDelayInMs({ retryCount: i, elapsedMs: 0 })!;
      expect(d).toBeLessThan(step);
      expect(d).toBeGreaterThanOrEqual(step - 1);
    }
    const real = createBackoffPolicy();
    const samples = Array.from(
      { length: 2000 },
      () => real.nextRetryDelayInMs({ retryCount: 2, elapsedMs: 0 })!,
    );
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(4000);
    // spread over the whole step, not clustered: both halves are well populated
    expect(samples.filter((d) => d < 2000).length).toBeGreaterThan(800);
    expect(samples.filter((d) => d >= 2000).length).toBeGreaterThan(800);
  });

  it('after a server restart (1001): one phase per client, tries land at that phase of 8 s then 16 s windows', () => {
    const p = createBackoffPolicy();
    const at = (phase: number, n: number) => {
      let t = 0;
      const times: number[] = [];
      for (let k = 0; k < n; k++) {
        t += p.nextRetryDelayInMs({ retryCount: k, elapsedMs: t, outageCloseCode: 1001, phase })!;
        times.push(t);
      }
      return times;
    };
    expect(at(0.25, 4)).toEqual([2000, 8000 + 4000, 24000 + 4000, 40000 + 4000]);
    expect(at(0, 2)).toEqual([0, 8000]);
    // a dropped link (1006) keeps the seed's fast steps
    expect(
      p.nextRetryDelayInMs({ retryCount: 0, elapsedMs: 0, outageCloseCode: 1006, phase: 0.999 }),
    ).toBeLessThan(1000);
    // 2,000 clients after a restart that takes 4 s: no second gets more than 20 % of them back
    const backAt = Array.from({ length: 2000 }, (_, i) => at((i + 0.5) / 2000, 6).find((t) => t >= 4000)!);
    const perSecond = new Map<number, number>();
    for (const t of backAt)
      perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values()) / 2000).toBeLessThanOrEqual(0.2);
  });

  it('gives up after maxRetries or maxElapsedMs', () => {
    const p = createBackoffPolicy({ maxRetries: 3, maxElapsedMs: 60_000 });
    expect(p.nextRetryDelayInMs({ retryCount: 2, elapsedMs: 0 })).not.toBeNull();
    expect(p.nextRetryDelayInMs({ retryCount: 3, elapsedMs: 0 })).toBeNull();
    expect(p.nextRetryDelayInMs({ retryCount: 0, elapsedMs: 60_000 })).toBeNull();
  });
});

describe('reconnecting socket (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeWebSocket.reset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const make = (extra: Partial<Parameters<typeof createReconnectingSocket>[0]> = {}) => {
    const states: StateChange[] = [];
    const socket = createReconnectingSocket({
      url: 'ws://example.test/x',
      WebSocket: FakeWebSocketCtor,
      reconnectPolicy: createBackoffPolicy({ jitter: 'none' }),
      now: () => Date.now(),
      autoConnect: false,
      ...extra,
    });
    socket.on('state', (s) => states.push(s));
    socket.connect();
    return { socket, states };
  };

  it('reconnects after an unclean close with the seed steps, and resets after a success', async () => {
    const { socket, states } = make();
    FakeWebSocket.last.open();
    expect(socket.state).toBe('open');
    const delays: number[] = [];
    socket.on('retry', (r) => delays.push(r.delayMs));

    // five failures in a row: 1, 2, 4, 8, 16 s
    FakeWebSocket.last.serverClose(1006);
    for (const step of [1000, 2000, 4000, 8000, 16000]) {
      const before = FakeWebSocket.instances.length;
      await vi.advanceTimersByTimeAsync(step - 1);
      expect(FakeWebSocket.instances.length).toBe(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeWebSocket.instances.length).toBe(before + 1);
      FakeWebSocket.last.serverClose(1006);
    }
    await vi.advanceTimersByTimeAsync(16000);
    FakeWebSocket.last.open();
    expect(socket.state).toBe('open');
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 16000]);

    // after a success the next loss starts again at 1 s
    FakeWebSocket.last.serverClose(1006);
    expect(delays.at(-1)).toBe(1000);
    expect(states.map((s) => s.to)).toEqual(['connecting', 'open', 'reconnecting', 'open', 'reconnecting']);
    expect(states[0]).toEqual({ from: 'idle', to: 'connecting' });
    socket.close();
  });

  it('applies full jitter from the policy', async () => {
    const { socket } = make({ reconnectPolicy: createBackoffPolicy({ random: () => 0.5 }) });
    FakeWebSocket.last.open();
    const delays: number[] = [];
    socket.on('retry', (r) => delays.push(r.delayMs));
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.serverClose(1006);
    expect(delays).toEqual([500, 1000]);
    socket.close();
  });

  it('does not reconnect after a clean close (server 1000, or the client closing)', async () => {
    const a = make();
    FakeWebSocket.last.open();
    FakeWebSocket.last.serverClose(1000, 'bye');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.socket.state).toBe('closed');
    expect(FakeWebSocket.instances).toHaveLength(1);

    FakeWebSocket.reset();
    const b = make();
    FakeWebSocket.last.open();
    b.socket.close();
    expect(FakeWebSocket.last.closedWith?.code).toBe(1000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(b.states.at(-1)).toEqual({ from: 'open', to: 'closed' });
    expect(b.socket.send('x')).toBe(false);
  });

  it('reconnects after a server restart (1001 going away)', async () => {
    const { socket } = make();
    FakeWebSocket.last.open();
    FakeWebSocket.last.serverClose(1001, 'server shutting down');
    expect(socket.state).toBe('reconnecting');
    // a restarting server: the retry falls somewhere in the first 8 s window
    await vi.advanceTimersByTimeAsync(8000);
    FakeWebSocket.last.open();
    expect(socket.state).toBe('open');
    socket.close();
  });

  it('heartbeat: pings on the interval and replaces a connection that stops answering', async () => {
    const { socket } = make({ heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 } });
    const first = FakeWebSocket.last;
    first.open();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(first.sent).toEqual(['{"type":"ping"}']);
    first.receive({ type: 'pong', serverTime: 1 });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(first.sent).toHaveLength(2);
    // no pong this time: dead after 10 s, without waiting for a close event that never comes
    await vi.advanceTimersByTimeAsync(9_999);
    expect(socket.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.state).toBe('reconnecting');
    expect(first.closedWith?.code).toBe(4000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    socket.close();
  });

  it('queues frames while disconnected, bounded, and flushes them in order after the handshake', async () => {
    const handshake: string[] = [];
    const { socket } = make({
      maxQueuedMessages: 3,
      onOpen: async (link) => {
        link.send('auth');
        handshake.push(await link.waitFor((d) => d === 'auth_ok'));
      },
    });
    const errors: string[] = [];
    socket.on('error', (e) => errors.push(e.code));
    expect(socket.send('a')).toBe(true);
    expect(socket.send('b')).toBe(true);
    expect(socket.send('c')).toBe(true);
    expect(socket.send('d')).toBe(false);
    expect(errors).toEqual(['queue_full']);
    const ws = FakeWebSocket.last;
    ws.open();
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.sent).toEqual(['auth']);
    expect(socket.state).toBe('connecting');
    ws.receive('auth_ok');
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.state).toBe('open');
    expect(ws.sent).toEqual(['auth', 'a', 'b', 'c']);
    expect(socket.queued).toBe(0);
    socket.close();
  });

  it('a handshake without an answer fails the attempt and retries', async () => {
    const opens: boolean[] = [];
    const { socket } = make({
      connectTimeoutMs: 5_000,
      onOpen: async (link) => {
        await link.waitFor((d) => d === 'auth_ok');
      },
    });
    socket.on('open', (o) => opens.push(o.reconnected));
    FakeWebSocket.last.open();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(socket.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1_000);
    FakeWebSocket.last.open();
    FakeWebSocket.last.receive('auth_ok');
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.state).toBe('open');
    expect(opens).toEqual([false]);
    socket.close();
  });

  it('a connection that never opens times out and is retried', async () => {
    const { socket } = make({ connectTimeoutMs: 3_000 });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(socket.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    socket.close();
  });

  it('a policy that returns null ends in closed', async () => {
    const { socket, states } = make({
      reconnectPolicy: createBackoffPolicy({ maxRetries: 1, jitter: 'none' }),
    });
    FakeWebSocket.last.open();
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    FakeWebSocket.last.serverClose(1006);
    expect(socket.state).toBe('closed');
    expect(states.map((s) => s.to)).toEqual(['connecting', 'open', 'reconnecting', 'closed']);
  });

  it('reconnect() replaces the connection at once and reports reconnected', async () => {
    const opens: boolean[] = [];
    const { socket } = make();
    socket.on('open', (o) => opens.push(o.reconnected));
    FakeWebSocket.last.open();
    socket.reconnect();
    expect(FakeWebSocket.instances).toHaveLength(2);
    FakeWebSocket.last.open();
    expect(opens).toEqual([false, true]);
    socket.close();
  });
});
