import { readFileSync } from 'node:fs';

/** Latency percentiles over recorded samples (ms). */
export function percentiles(samples: number[]): {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  n: number;
} {
  if (samples.length === 0)
    return { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN, n: 0 };
  const s = Float64Array.from(samples).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[s.length - 1]!, n: s.length };
}

/** CPU seconds used by a process (user + system) from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export const round = (n: number, d = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : n);
