import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../src/server/observability/metrics.js';
import { Fanout } from '../src/server/pulse/fanout.js';
import { createSession, type PulseSession } from '../src/server/pulse/session.js';
import type { WsConnection } from '../src/server/ws/endpoint.js';

// The metrics fan-out in isolation: a subscriber whose socket does not drain gets the newest
// frame per node, never a growing queue.
function fakeConn(): WsConnection & { sent: string[]; buffered: number } {
  const conn = {
    id: 'c',
    remoteIp: '127.0.0.1',
    identity: undefined,
    open: true,
    sent: [] as string[],
    buffered: 0,
    get bufferedAmount() {
      return conn.buffered;
    },
    send: (f: unknown) => conn.sendText(JSON.stringify(f)),
    sendText(text: string) {
      conn.sent.push(text);
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
});
