import type { NetworkQuality, StatsData } from '../../protocol/signaling.js';
import { createEmitter, type Events } from '../emitter.js';
import { applyBitrate, type BitrateOptions, type SenderLike } from './bitrate.js';
import { createQualityFilter, type QualityFilterOptions } from './quality.js';
import { type StatsCounters, type StatsReportLike, statsFromReport } from './stats.js';

/** The part of RTCPeerConnection the monitor reads. */
export interface MonitoredConnection {
  readonly iceConnectionState: string;
  getStats(): Promise<StatsReportLike>;
  getSenders(): readonly SenderLike[];
}

export interface QualityMonitorOptions extends QualityFilterOptions {
  /** Sampling interval (ms). @default 2000 */
  intervalMs?: number;
  /** Adapt the send bitrate when the level changes; `false` leaves senders alone. @default {} */
  bitrate?: BitrateOptions | false;
  /** @default Date.now */
  now?: () => number;
}

export interface QualityMonitorEvents {
  [key: string]: unknown;
  /** Every sample, with the smoothed level at that point. */
  stats: { stats: StatsData; level: NetworkQuality };
  /** The smoothed level changed. */
  quality: { from: NetworkQuality; to: NetworkQuality; stats: StatsData };
}

export interface QualityMonitor extends Events<QualityMonitorEvents> {
  readonly level: NetworkQuality;
  readonly last: StatsData | undefined;
  /** Takes one sample now (the interval calls this). */
  sample(): Promise<StatsData>;
  stop(): void;
}

/**
 * Samples getStats() into StatsData, classifies it with the seed's thresholds through a
 * hysteresis filter, and caps the send bitrate when the level changes.
 *
 * @example
 * const monitor = createQualityMonitor(pc);
 * monitor.on('quality', ({ from, to }) => console.log(`call quality ${from} → ${to}`));
 */
export function createQualityMonitor(
  pc: MonitoredConnection,
  options: QualityMonitorOptions = {},
): QualityMonitor {
  const events = createEmitter<QualityMonitorEvents>();
  const filter = createQualityFilter(options);
  const counters: StatsCounters = new Map();
  const now = options.now ?? Date.now;
  let last: StatsData | undefined;
  let stopped = false;
  let busy = false;

  const monitor: QualityMonitor = {
    on: events.on,
    once: events.once,
    off: events.off,
    get level() {
      return filter.level;
    },
    get last() {
      return last;
    },
    async sample() {
      const stats = statsFromReport(await pc.getStats(), pc.iceConnectionState, counters, now());
      last = stats;
      const from = filter.level;
      // a connection that is not up has no meaningful rtt/loss: do not feed zeros as "excellent"
      const up = stats.iceState === 'connected' || stats.iceState === 'completed';
      const to = up ? filter.push(stats) : from;
      events.emit('stats', { stats, level: to });
      if (to !== from) {
        events.emit('quality', { from, to, stats });
        if (options.bitrate !== false) await applyBitrate(pc.getSenders(), to, options.bitrate ?? {});
      }
      return stats;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      events.removeAll();
    },
  };
  const timer = setInterval(() => {
    if (stopped || busy) return;
    busy = true;
    monitor
      .sample()
      .catch(() => {
        // a closed connection rejects getStats: the call ends the monitor right after
      })
      .finally(() => {
        busy = false;
      });
  }, options.intervalMs ?? 2_000);
  return monitor;
}
