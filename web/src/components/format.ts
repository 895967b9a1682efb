/** Number formats shared by the charts and tables. */
export const fmt = {
  ms: (v: number) => `${Math.round(v)} ms`,
  pct: (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)} %`,
  bits: (v: number) =>
    v >= 1e6
      ? `${(v / 1e6).toFixed(1)} Mbit/s`
      : v >= 1e3
        ? `${Math.round(v / 1e3)} kbit/s`
        : `${Math.round(v)} bit/s`,
  bytes: (v: number) =>
    v >= 1 << 20
      ? `${(v / (1 << 20)).toFixed(1)} MiB`
      : v >= 1024
        ? `${(v / 1024).toFixed(1)} KiB`
        : `${v} B`,
  num: (v: number) => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100)),
};

/** "just now", "5 min ago", "3 h ago", or a date. */
export function ago(ms: number, now: number = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}
