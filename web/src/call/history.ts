import type { StatsData } from '../sdk.js';

/** Samples kept per peer: 150 × the monitor's 2 s = the last 5 minutes. */
export const HISTORY_SAMPLES = 150;
export const HISTORY_WINDOW_TEXT = 'the last 5 minutes';

/** Appends a sample to a bounded series (a new array, for React). */
export function pushSample(
  series: readonly StatsData[],
  sample: StatsData,
  max = HISTORY_SAMPLES,
): StatsData[] {
  const next = series.length >= max ? series.slice(series.length - max + 1) : series.slice();
  next.push(sample);
  return next;
}
