import { assessNetworkQuality, type NetworkQuality, type StatsData } from '../../protocol/signaling.js';

const RANK: Record<NetworkQuality, number> = { excellent: 0, good: 1, poor: 2, critical: 3 };
const LEVELS: NetworkQuality[] = ['excellent', 'good', 'poor', 'critical'];

export interface QualityFilterOptions {
  /** Samples in a row that must be worse before the level drops. @default 2 */
  degradeAfter?: number;
  /** Samples in a row that must be better before the level rises. @default 3 */
  recoverAfter?: number;
}

export interface QualityFilter {
  /** The current, smoothed level (`good` until enough samples arrive). */
  readonly level: NetworkQuality;
  /** Feeds one sample; returns the level after it. */
  push(sample: Pick<StatsData, 'rtt' | 'packetLoss'>): NetworkQuality;
}

/**
 * Hysteresis over the seed's classifier (`assessNetworkQuality`), so one bad sample does
 * not flap the level: it drops only when `degradeAfter` samples in a row are all worse,
 * to the best of them (a single spike among poor samples does not count as critical), and
 * rises only when `recoverAfter` samples in a row are all better, to the worst of them.
 * Dropping is quicker than rising: users notice a late downgrade (frozen video) more than
 * a late upgrade, and oscillating bitrate is worse than either.
 *
 * @example
 * const filter = createQualityFilter();
 * filter.push({ rtt: 40, packetLoss: 0 });   // 'good' (not enough evidence yet)
 * filter.push({ rtt: 40, packetLoss: 0 });
 * filter.push({ rtt: 40, packetLoss: 0 });   // 'excellent'
 */
export function createQualityFilter(options: QualityFilterOptions = {}): QualityFilter {
  const degradeAfter = Math.max(1, options.degradeAfter ?? 2);
  const recoverAfter = Math.max(1, options.recoverAfter ?? 3);
  const window: number[] = [];
  let level: NetworkQuality = 'good';
  return {
    get level() {
      return level;
    },
    push(sample) {
      window.push(RANK[assessNetworkQuality(sample)]);
      if (window.length > Math.max(degradeAfter, recoverAfter)) window.shift();
      const current = RANK[level];
      const recent = (n: number) => (window.length >= n ? window.slice(-n) : undefined);
      const worse = recent(degradeAfter);
      const better = recent(recoverAfter);
      if (worse?.every((r) => r > current)) level = LEVELS[Math.min(...worse)]!;
      else if (better?.every((r) => r < current)) level = LEVELS[Math.max(...better)]!;
      return level;
    },
  };
}
