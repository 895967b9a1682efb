import type { StatsData } from '../../protocol/signaling.js';

/** The part of an RTCStatsReport the reader walks: a map of stats objects by id. */
export interface StatsReportLike {
  forEach(callback: (stat: any, id: string) => void): void;
  get(id: string): any;
}

/** Counters of the previous sample, so rates (bit/s, loss %) cover one interval, not the whole call. */
export type StatsCounters = Map<string, { bytes: number; lost: number; received: number; timestamp: number }>;

/**
 * RTCStatsReport → the seed's StatsData. Chromium, Firefox and Safari spell the selected
 * candidate pair differently (`transport.selectedCandidatePairId`, `selected`, `nominated`),
 * so all three are read. Loss is the worse of the two directions: what we lose receiving
 * (inbound-rtp) and what the peer reports losing of ours (remote-inbound-rtp).
 *
 * @example
 * const counters: StatsCounters = new Map();
 * const sample = statsFromReport(await pc.getStats(), pc.iceConnectionState, counters);
 */
export function statsFromReport(
  report: StatsReportLike,
  iceState: string,
  counters: StatsCounters,
  now: number = Date.now(),
): StatsData {
  let pair: any;
  let selectedPairId: string | undefined;
  const inbound: any[] = [];
  const outbound: any[] = [];
  const remoteInbound: any[] = [];
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) selectedPairId = s.selectedCandidatePairId;
    else if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded')))
      pair ??= s;
    else if (s.type === 'inbound-rtp') inbound.push(s);
    else if (s.type === 'outbound-rtp') outbound.push(s);
    else if (s.type === 'remote-inbound-rtp') remoteInbound.push(s);
  });
  if (selectedPairId) pair = report.get(selectedPairId) ?? pair;

  let rtt = typeof pair?.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : Number.NaN;
  let jitter = 0;
  let lossPct = 0;
  for (const r of remoteInbound) {
    if (Number.isNaN(rtt) && typeof r.roundTripTime === 'number') rtt = r.roundTripTime * 1000;
    if (typeof r.fractionLost === 'number') lossPct = Math.max(lossPct, r.fractionLost * 100);
    if (typeof r.jitter === 'number') jitter = Math.max(jitter, r.jitter * 1000);
  }

  let lostDelta = 0;
  let receivedDelta = 0;
  let inBits = 0;
  let outBits = 0;
  const seen = new Set<string>();
  const rate = (s: any, bytes: number) => {
    const prev = counters.get(s.id);
    const ts = typeof s.timestamp === 'number' ? s.timestamp : now;
    const lost = s.packetsLost ?? 0;
    const received = s.packetsReceived ?? 0;
    counters.set(s.id, { bytes, lost, received, timestamp: ts });
    seen.add(s.id);
    if (!prev || ts <= prev.timestamp) return { bits: 0, lost, received };
    return {
      bits: ((bytes - prev.bytes) * 8 * 1000) / (ts - prev.timestamp),
      lost: lost - prev.lost,
      received: received - prev.received,
    };
  };
  for (const s of inbound) {
    if (typeof s.jitter === 'number') jitter = Math.max(jitter, s.jitter * 1000);
    const r = rate(s, s.bytesReceived ?? 0);
    inBits += Math.max(0, r.bits);
    lostDelta += Math.max(0, r.lost);
    receivedDelta += Math.max(0, r.received);
  }
  for (const s of outbound) outBits += Math.max(0, rate(s, s.bytesSent ?? 0).bits);
  for (const id of [...counters.keys()]) if (!seen.has(id)) counters.delete(id);
  if (lostDelta + receivedDelta > 0)
    lossPct = Math.max(lossPct, (lostDelta * 100) / (lostDelta + receivedDelta));

  return {
    rtt: Number.isNaN(rtt) ? 0 : Math.round(rtt),
    jitter: Math.round(jitter * 10) / 10,
    packetLoss: Math.min(100, Math.round(lossPct * 100) / 100),
    // the send side is what adaptation acts on; a receive-only peer reports what it gets
    bitrate: Math.round(outBits > 0 ? outBits : inBits),
    codec: codecsOf(report, outbound.length > 0 ? outbound : inbound),
    iceState,
    timestamp: now,
  };
}

function codecsOf(report: StatsReportLike, rtps: any[]): string {
  const names: string[] = [];
  for (const s of [...rtps].sort((a, b) => String(a.kind).localeCompare(String(b.kind)))) {
    const mime = s.codecId ? report.get(s.codecId)?.mimeType : undefined;
    const name = typeof mime === 'string' ? mime.replace(/^(audio|video)\//i, '') : undefined;
    if (name && !names.includes(name)) names.push(name);
  }
  return names.join(',').slice(0, 64);
}
