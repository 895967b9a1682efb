import { assessNetworkQuality, type NetworkQuality, type StatsData } from '../../protocol/signaling.js';
import type { SignalingMetrics } from './metrics.js';

/** RTCIceConnectionState values; anything else is counted as `other` (labels stay bounded). */
const ICE_STATES = new Set(['new', 'checking', 'connected', 'completed', 'failed', 'disconnected', 'closed']);

/**
 * Call-quality intake (§3.1): a validated `stats` sample becomes histogram observations and
 * one count for its quality level. Nothing is stored per call; Prometheus keeps the history.
 */
export function recordCallStats(metrics: SignalingMetrics, stats: StatsData): NetworkQuality {
  metrics.rtt.observe(stats.rtt);
  metrics.jitter.observe(stats.jitter);
  metrics.loss.observe(stats.packetLoss);
  metrics.bitrate.observe(stats.bitrate);
  const level = assessNetworkQuality(stats);
  metrics.quality[level].inc();
  metrics.iceStates.inc({ state: ICE_STATES.has(stats.iceState) ? stats.iceState : 'other' });
  return level;
}
