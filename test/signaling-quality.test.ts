import { describe, expect, it } from 'vitest';
import { assessNetworkQuality, QUALITY_THRESHOLDS } from '../src/protocol/signaling.js';

describe('assessNetworkQuality (PROTOCOL §3.1, shared with the SDK)', () => {
  it.each([
    [0, 0, 'excellent'],
    [99, 0.99, 'excellent'],
    [100, 0, 'good'],
    [50, 1, 'good'],
    [299, 4.99, 'good'],
    [300, 0, 'poor'],
    [10, 5, 'poor'],
    [499, 9.99, 'poor'],
    [500, 0, 'critical'],
    [10, 10, 'critical'],
    [Number.POSITIVE_INFINITY, 0, 'critical'],
  ] as const)('rtt %d ms, loss %d %% is %s', (rtt, packetLoss, level) => {
    expect(assessNetworkQuality({ rtt, packetLoss })).toBe(level);
  });

  it('uses the thresholds the config endpoint serves', () => {
    expect(QUALITY_THRESHOLDS).toEqual({ rttMs: 300, packetLossPct: 5, iceTimeoutMs: 8000 });
  });
});
