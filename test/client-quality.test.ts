import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyBitrate, bitrateFor, type SenderLike } from '../src/client/call/bitrate.js';
import { createQualityMonitor } from '../src/client/call/monitor.js';
import { createQualityFilter } from '../src/client/call/quality.js';
import { type StatsCounters, statsFromReport } from '../src/client/call/stats.js';
import type { NetworkQuality } from '../src/protocol/signaling.js';

/** One Chromium-shaped getStats() report: the selected pair, audio + video in and out. */
function chromiumReport(
  t: number,
  s: { rtt: number; lost: number; received: number; sent: number; jitter?: number },
) {
  const entries: [string, any][] = [
    ['T01', { id: 'T01', type: 'transport', selectedCandidatePairId: 'CP1' }],
    [
      'CP1',
      {
        id: 'CP1',
        type: 'candidate-pair',
        state: 'succeeded',
        nominated: true,
        currentRoundTripTime: s.rtt / 1000,
      },
    ],
    ['CP2', { id: 'CP2', type: 'candidate-pair', state: 'failed', currentRoundTripTime: 9 }],
    ['COa', { id: 'COa', type: 'codec', mimeType: 'audio/opus' }],
    ['COv', { id: 'COv', type: 'codec', mimeType: 'video/VP8' }],
    [
      'IA',
      {
        id: 'IA',
        type: 'inbound-rtp',
        kind: 'audio',
        timestamp: t,
        jitter: (s.jitter ?? 12) / 1000,
        packetsLost: s.lost,
        packetsReceived: s.received,
        bytesReceived: s.received * 100,
        codecId: 'COa',
      },
    ],
    [
      'OA',
      { id: 'OA', type: 'outbound-rtp', kind: 'audio', timestamp: t, bytesSent: s.sent / 10, codecId: 'COa' },
    ],
    [
      'OV',
      { id: 'OV', type: 'outbound-rtp', kind: 'video', timestamp: t, bytesSent: s.sent, codecId: 'COv' },
    ],
    ['RIA', { id: 'RIA', type: 'remote-inbound-rtp', kind: 'audio', fractionLost: 0, roundTripTime: 0.5 }],
  ];
  return new Map(entries);
}

/** Recorded samples (rtt ms, loss %) → the level after each, through the filter. */
function run(samples: [number, number][], options = {}): NetworkQuality[] {
  const f = createQualityFilter(options);
  return samples.map(([rtt, packetLoss]) => f.push({ rtt, packetLoss }));
}

describe('quality classification (seed thresholds)', () => {
  it('classifies each sample with the seed thresholds when unsmoothed', () => {
    const raw = (rtt: number, loss: number) => run([[rtt, loss]], { degradeAfter: 1, recoverAfter: 1 })[0];
    expect(raw(99, 0.99)).toBe('excellent');
    expect(raw(100, 0)).toBe('good');
    expect(raw(50, 1)).toBe('good');
    expect(raw(299, 4.99)).toBe('good');
    expect(raw(300, 0)).toBe('poor');
    expect(raw(50, 5)).toBe('poor');
    expect(raw(499, 9.99)).toBe('poor');
    expect(raw(500, 0)).toBe('critical');
    expect(raw(20, 10)).toBe('critical');
  });

  it('one bad sample in a good call does not move the level', () => {
    const levels = run([
      [40, 0],
      [40, 0],
      [45, 0],
      [900, 30],
      [42, 0],
      [41, 0],
      [40, 0.2],
      [1200, 0],
      [40, 0],
    ]);
    expect(levels.slice(2)).toEqual(Array(7).fill('excellent'));
  });

  it('drops after two bad samples in a row, to the better of them; recovers only after three good ones', () => {
    const levels = run([
      [40, 0],
      [40, 0],
      [40, 0], // excellent
      [350, 6],
      [900, 20], // poor then critical: drop to the better, poor
      [900, 20], // critical twice in a row
      [60, 0],
      [60, 0], // not yet
      [60, 0], // three better in a row: excellent
    ]);
    expect(levels).toEqual([
      'good',
      'good',
      'excellent',
      'excellent',
      'poor',
      'critical',
      'critical',
      'critical',
      'excellent',
    ]);
  });

  it('a connection alternating between good and poor samples does not flap', () => {
    const samples: [number, number][] = Array.from({ length: 40 }, (_, i) => (i % 2 ? [350, 2] : [150, 2]));
    const levels = run(samples);
    const changes = levels.filter((l, i) => i > 0 && l !== levels[i - 1]).length;
    expect(changes).toBe(0);
    expect(new Set(levels)).toEqual(new Set(['good']));
  });

  it('a slowly worsening recorded call steps down through each level once', () => {
    const rtts = [80, 85, 90, 150, 180, 200, 320, 350, 400, 520, 600, 700];
    const levels = run(rtts.map((r) => [r, 0.5] as [number, number]));
    const distinct = levels.filter((l, i) => i === 0 || l !== levels[i - 1]);
    expect(distinct).toEqual(['good', 'excellent', 'good', 'poor', 'critical']);
  });
});

describe('getStats() → StatsData', () => {
  it('reads rtt from the selected pair, loss and bitrate over one interval, jitter, codecs', () => {
    const counters: StatsCounters = new Map();
    const first = statsFromReport(
      chromiumReport(1000, { rtt: 80, lost: 10, received: 990, sent: 0 }),
      'connected',
      counters,
      1,
    );
    expect(first).toMatchObject({
      rtt: 80,
      jitter: 12,
      codec: 'opus,VP8',
      iceState: 'connected',
      bitrate: 0,
    });
    expect(first.packetLoss).toBeCloseTo(1, 5); // cumulative on the first sample
    const second = statsFromReport(
      chromiumReport(3000, { rtt: 120, lost: 30, received: 1370, sent: 250_000 }),
      'connected',
      counters,
      2,
    );
    expect(second.rtt).toBe(120);
    expect(second.packetLoss).toBe(5); // 20 of 400 in this interval
    expect(second.bitrate).toBe(1_100_000); // (250000 + 25000) bytes * 8 / 2 s
    expect(second.timestamp).toBe(2);
  });

  it('falls back to remote-inbound-rtp (Firefox/Safari shapes) and the worse loss direction', () => {
    const report = new Map<string, any>([
      ['p', { id: 'p', type: 'candidate-pair', selected: true }],
      ['r', { id: 'r', type: 'remote-inbound-rtp', roundTripTime: 0.21, fractionLost: 0.07, jitter: 0.03 }],
    ]);
    expect(statsFromReport(report, 'completed', new Map(), 5)).toMatchObject({
      rtt: 210,
      packetLoss: 7,
      jitter: 30,
      bitrate: 0,
      codec: '',
    });
  });
});

describe('bitrate adaptation', () => {
  const sender = (kind: string, encodings?: { maxBitrate?: number }[]) => {
    const s = {
      track: { kind },
      params: { encodings, transactionId: 't' } as any,
      getParameters: () => structuredClone(s.params),
      setParameters: vi.fn(async (p: any) => {
        s.params = p;
      }),
    };
    return s;
  };

  it('caps video hard and audio gently per level', async () => {
    expect(bitrateFor('excellent')).toEqual({ video: 2_500_000, audio: 64_000 });
    expect(bitrateFor('critical').video).toBe(375_000);
    expect(bitrateFor('critical').audio).toBeGreaterThanOrEqual(16_000);
    const v = sender('video', [{ maxBitrate: 1 }, { maxBitrate: 2 }]);
    const a = sender('audio');
    await applyBitrate([v, a, { track: null } as unknown as SenderLike], 'poor');
    expect(v.params.encodings).toEqual([{ maxBitrate: 1_000_000 }, { maxBitrate: 1_000_000 }]);
    expect(a.params.encodings).toEqual([{ maxBitrate: bitrateFor('poor').audio }]);
    expect(v.params.transactionId).toBe('t');
  });
});

describe('quality monitor (fake timers, recorded stats)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('samples on the interval, reports quality changes, adapts the senders once per change', async () => {
    vi.useFakeTimers();
    const rtts = [50, 50, 50, 50, 420, 430, 440, 450];
    let i = 0;
    const video = {
      track: { kind: 'video' },
      getParameters: () => ({ encodings: [{}] }),
      setParameters: vi.fn(async () => {}),
    };
    const pc = {
      iceConnectionState: 'connected',
      getSenders: () => [video],
      getStats: async () => {
        const rtt = rtts[Math.min(i, rtts.length - 1)]!;
        i++;
        return chromiumReport(i * 2000, { rtt, lost: 0, received: i * 100, sent: i * 50_000 });
      },
    };
    const monitor = createQualityMonitor(pc, { intervalMs: 2000 });
    const changes: string[] = [];
    const samples: number[] = [];
    monitor.on('quality', (q) => changes.push(`${q.from}>${q.to}`));
    monitor.on('stats', (s) => samples.push(s.stats.rtt));
    await vi.advanceTimersByTimeAsync(2000 * rtts.length);
    expect(samples).toEqual(rtts);
    expect(changes).toEqual(['good>excellent', 'excellent>poor']);
    expect(video.setParameters).toHaveBeenCalledTimes(2);
    expect(video.setParameters).toHaveBeenLastCalledWith({ encodings: [{ maxBitrate: 1_000_000 }] });
    expect(monitor.level).toBe('poor');
    monitor.stop();
  });
});
