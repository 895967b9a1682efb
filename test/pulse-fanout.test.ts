import { afterEach, describe, expect, it, vi } from 'vitest';
import { FANOUT_SLICE_MS, SLICE } from '../src/server/limits/slices.js';
import { createMetrics } from '../src/server/observability/metrics.js';
import { Fanout, MAX_QUEUED_FANOUTS } from '../src/server/pulse/fanout.js';
import { createSession, type PulseSession } from '../src/server/pulse/session.js';
import type { WsConnection } from '../src/server/ws/endpoint.js';

// The metrics fan-out in isolation: a subscriber whose socket does not drain gets the newest
// frame per node, never a growing queue.
function fakeConn(): WsConnection & { sent: string[]; handed: (string | Buffer)[]; buffered: number } {
  const conn = {
    id: 'c',
    identity: undefined,
    open: true,
    sent: [] as string[],
    /** What the fan-out handed over, as it was (string or bytes). */
    handed: [] as (string | Buffer)[],
    buffered: 0,
    get bufferedAmount() {
      return conn.buffered;
    },
    send: (f: unknown) => conn.sendText(JSON.stringify(f)),
    sendText(text: string | Buffer) {
      conn.handed.push(text);
      conn.sent.push(String(text));
      return true;
    },
    error() {},
    close() {},
  };
  return conn;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('pulse fan-out', () => {
  it('sends every frame to a fast subscriber and coalesces per node for a slow one', async () => {
    vi.useFakeTimers();
    const metrics = createMetrics({ defaultMetrics: false });
    const fanout = new Fanout({ metrics, slowBytes: 1000, flushMs: 25 });
    const fast = fakeConn();
    const slow = fakeConn();
    const sFast: PulseSession = createSession(fast);
    const sSlow: PulseSession = createSession(slow);
    fanout.subscribe(sFast, 'metrics');
    fanout.subscribe(sSlow, 'metrics');

    slow.buffered = 5000; // its socket stopped draining
    for (let i = 0; i < 1000; i++) fanout.metrics(`n${i % 3}`, `m${i}`);
    expect(fast.sent).toHaveLength(1000);
    expect(slow.sent).toHaveLength(0);
    expect(sSlow.pending.size).toBe(3); // bounded by the number of nodes
    // encoded once for all its subscribers: the slow one holds the very bytes the fast one got
    expect(Buffer.isBuffer(fast.handed[999])).toBe(true);
    expect(sSlow.pending.get('n0')).toBe(fast.handed[999]);

    await vi.advanceTimersByTimeAsync(100);
    expect(slow.sent).toHaveLength(0); // still not draining: nothing is written
    slow.buffered = 0;
    await vi.advanceTimersByTimeAsync(30);
    expect(slow.sent.sort()).toEqual(['m997', 'm998', 'm999']);
    expect(sSlow.pending.size).toBe(0);

    const text = await metrics.registry.getSingleMetricAsString('p3_pulse_metrics_coalesced_total');
    expect(text).toMatch(/p3_pulse_metrics_coalesced_total 997/);
    fanout.close();
  });

  it('drops held-back metrics of a node that left, and of a subscriber that unsubscribed', async () => {
    vi.useFakeTimers();
    const fanout = new Fanout({ metrics: createMetrics({ defaultMetrics: false }), slowBytes: 10 });
    const slow = fakeConn();
    const s = createSession(slow);
    fanout.subscribe(s, 'metrics');
    fanout.subscribe(s, 'nodes');
    slow.buffered = 100;
    fanout.metrics('gone', 'old');
    fanout.metrics('stays', 'fresh');
    fanout.forgetNode('gone');
    // registry frames are never held back or dropped
    fanout.broadcast('nodes', 'left:gone');
    expect(slow.sent).toEqual(['left:gone']);
    slow.buffered = 0;
    await vi.advanceTimersByTimeAsync(50);
    expect(slow.sent).toEqual(['left:gone', 'fresh']);

    slow.buffered = 100;
    fanout.metrics('stays', 'later');
    fanout.unsubscribe(s, 'metrics');
    slow.buffered = 0;
    await vi.advanceTimersByTimeAsync(50);
    expect(slow.sent).toEqual(['left:gone', 'fresh']);
    expect(fanout.count('metrics')).toBe(0);
    fanout.drop(s);
    expect(fanout.count('nodes')).toBe(0);
    fanout.close();
  });

  it('sends a large fan-out in slices that yield to the event loop, in order, newest metrics per node', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const fanout = new Fanout({ metrics, slowBytes: 1_000_000 });
    const conns = Array.from({ length: 3 * SLICE + 7 }, () => fakeConn());
    for (const c of conns) {
      const s = createSession(c);
      fanout.subscribe(s, 'metrics');
      fanout.subscribe(s, 'nodes');
    }
    fanout.broadcast('nodes', 'joined:n1');
    // only the first slice went out at once (SLICE sends, fewer if they took over
    // FANOUT_SLICE_MS): the rest waits for later turns of the loop
    const first = conns.filter((c) => c.sent.length > 0).length;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(SLICE);
    fanout.metrics('n1', 'm1');
    fanout.metrics('n1', 'm2'); // replaces m1: that fan-out had not started
    fanout.broadcast('nodes', 'left:n2');
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    await vi.waitFor(() => expect(conns.every((c) => c.sent.length === 3)).toBe(true));
    clearInterval(ticker);
    for (const c of conns) expect(c.sent).toEqual(['joined:n1', 'm2', 'left:n2']);
    // timers ran between slices: the fan-out never held the loop for all of it
    expect(turns).toBeGreaterThan(0);
    const text = await metrics.registry.getSingleMetricAsString('p3_pulse_metrics_coalesced_total');
    expect(text).toMatch(/p3_pulse_metrics_coalesced_total 1/);
    fanout.close();
  });

  it('ends a slice of a large fan-out after FANOUT_SLICE_MS when sends are slow; a small one goes out whole', async () => {
    const fanout = new Fanout({ metrics: createMetrics({ defaultMetrics: false }), slowBytes: 1_000_000 });
    // socket writes that take 0.1 ms each
    const slowConn = () => {
      const c = fakeConn();
      const send = c.sendText.bind(c);
      c.sendText = (text) => {
        const until = performance.now() + 0.1;
        while (performance.now() < until);
        return send(text);
      };
      return c;
    };
    const conns = Array.from({ length: SLICE + 100 }, slowConn);
    for (const c of conns) fanout.subscribe(createSession(c), 'nodes');
    fanout.broadcast('nodes', 'joined:n1');
    const first = conns.filter((c) => c.sent.length > 0).length;
    // the clock is read every 16 sends: the first slice stops at the first reading past it
    expect(first).toBeGreaterThanOrEqual(Math.ceil(FANOUT_SLICE_MS / 0.1));
    expect(first).toBeLessThan(SLICE);
    await vi.waitFor(() => expect(conns.every((c) => c.sent.length === 1)).toBe(true));

    const few = Array.from({ length: 100 }, slowConn);
    for (const c of few) fanout.subscribe(createSession(c), 'tasks');
    fanout.broadcast('tasks', 'task:1');
    expect(few.every((c) => c.sent.length === 1)).toBe(true);
    fanout.close();
  });

  it('stops a queued fan-out of metrics from a node that left', async () => {
    const fanout = new Fanout({ metrics: createMetrics({ defaultMetrics: false }), slowBytes: 1_000_000 });
    const conns = Array.from({ length: 2 * SLICE }, () => fakeConn());
    for (const c of conns) fanout.subscribe(createSession(c), 'metrics');
    fanout.metrics('a', 'a1');
    fanout.metrics('gone', 'g1');
    fanout.forgetNode('gone');
    await vi.waitFor(() => expect(conns.every((c) => c.sent.length === 1)).toBe(true));
    for (const c of conns) expect(c.sent).toEqual(['a1']);
    fanout.close();
  });

  it('retries a slow subscriber while a long queue of fan-outs is still draining', async () => {
    const fanout = new Fanout({
      metrics: createMetrics({ defaultMetrics: false }),
      slowBytes: 10,
      flushMs: 5,
    });
    const conns = Array.from({ length: 3 * SLICE }, () => fakeConn());
    const slow = conns[0]!;
    slow.buffered = 100;
    const sessions = conns.map((c) => createSession(c));
    for (const s of sessions) fanout.subscribe(s, 'metrics');
    for (const s of sessions) fanout.subscribe(s, 'nodes');
    fanout.metrics('n', 'm1'); // the slow one is held back (first slice)
    slow.buffered = 0; // ...and drains at once
    // keep the queue from ever emptying for a while
    let feeding = true;
    let fed = 0;
    const feed = () => {
      if (!feeding || fed >= 5_000) return;
      fanout.broadcast('nodes', `b${fed++}`);
      setImmediate(feed);
    };
    feed();
    const stop = setTimeout(() => {
      feeding = false;
    }, 5_000);
    // the held-back frame arrives while the queue is still busy, not after it ran dry
    await vi.waitFor(() => expect(slow.sent).toContain('m1'), { timeout: 4_000, interval: 5 });
    expect(fed).toBeLessThan(5_000);
    feeding = false;
    clearTimeout(stop);
    fanout.close();
  });

  it('bounds its queue: past the bound, fan-outs go out without yielding', () => {
    const fanout = new Fanout({ metrics: createMetrics({ defaultMetrics: false }), slowBytes: 1_000_000 });
    const conns = Array.from({ length: 2 * SLICE }, () => fakeConn());
    for (const c of conns) fanout.subscribe(createSession(c), 'nodes');
    // every broadcast but the first waits: the queue grows up to its bound...
    for (let i = 0; i < MAX_QUEUED_FANOUTS; i++) fanout.broadcast('nodes', `f${i}`);
    expect(conns.at(-1)!.sent).toHaveLength(0);
    // ...and the next one drains everything at once, in order
    fanout.broadcast('nodes', 'last');
    for (const c of conns) {
      expect(c.sent).toHaveLength(MAX_QUEUED_FANOUTS + 1);
      expect(c.sent.at(-1)).toBe('last');
      expect(c.sent[0]).toBe('f0');
    }
    fanout.close();
  });
});
