import { NETWORK_QUALITY_LEVELS, type NetworkQuality } from '../../protocol/signaling.js';
import type { Metrics } from '../observability/metrics.js';

/**
 * The signaling surface's own Prometheus families (the endpoint adds connections, frames,
 * errors and closes under the same `p3_signaling_` prefix). Label sets are closed lists,
 * and the hot-path counters are bound to their labels once.
 */
export function createSignalingMetrics(metrics: Metrics) {
  const relayed = metrics.tally('p3_signaling_relayed_total', 'offer/answer/ice/end frames relayed', [
    'path',
  ]);
  const quality = metrics.counter('p3_signaling_call_quality_total', 'Call stats samples by quality level', [
    'level',
  ]);
  const qualityByLevel = Object.fromEntries(
    NETWORK_QUALITY_LEVELS.map((level) => [level, quality.labels({ level })]),
  ) as Record<NetworkQuality, ReturnType<typeof quality.labels>>;
  return {
    relayedLocal: relayed.labels({ path: 'local' }),
    relayedRemote: relayed.labels({ path: 'remote' }),
    busIn: metrics.counter('p3_signaling_bus_in_total', 'Room channel messages from other nodes', ['kind']),
    busErrors: metrics.counter('p3_signaling_bus_errors_total', 'Room channel publishes that failed'),
    joins: metrics.counter('p3_signaling_joins_total', 'join requests by result', ['result']),
    left: metrics.counter('p3_signaling_left_total', 'Peers that left a room, by reason', ['reason']),
    queueOverflow: metrics.counter(
      'p3_signaling_queue_overflow_total',
      'Frames refused because too many of one connection waited on the engine',
    ),
    backlogDropped: metrics.counter(
      'p3_signaling_backlog_dropped_total',
      'Events or frames for a joining peer dropped because its backlog was full',
    ),
    sweeps: metrics.counter('p3_signaling_sweeps_total', 'Membership lease sweeps completed'),
    sweepErrors: metrics.counter(
      'p3_signaling_sweep_errors_total',
      'Lease renewal/expiry sweeps that failed',
    ),
    rtt: metrics.histogram(
      'p3_signaling_call_rtt_ms',
      'Call round-trip time reported by clients (ms)',
      [25, 50, 100, 150, 200, 300, 500, 750, 1000, 2000],
    ),
    jitter: metrics.histogram(
      'p3_signaling_call_jitter_ms',
      'Call jitter reported by clients (ms)',
      [1, 5, 10, 20, 30, 50, 100, 200],
    ),
    loss: metrics.histogram(
      'p3_signaling_call_packet_loss_pct',
      'Call packet loss reported by clients (%)',
      [0.1, 0.5, 1, 2, 5, 10, 20, 50],
    ),
    bitrate: metrics.histogram(
      'p3_signaling_call_bitrate_bps',
      'Call bitrate reported by clients (bit/s)',
      [16e3, 32e3, 64e3, 128e3, 256e3, 512e3, 1e6, 2.5e6, 5e6],
    ),
    quality: qualityByLevel,
    iceStates: metrics.counter('p3_signaling_call_ice_state_total', 'Call stats samples by ICE state', [
      'state',
    ]),
  };
}

export type SignalingMetrics = ReturnType<typeof createSignalingMetrics>;
