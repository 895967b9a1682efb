import type { NetworkQuality } from '../../protocol/signaling.js';

/** The part of RTCRtpSender the adapter uses. */
export interface SenderLike {
  readonly track: { kind: string } | null;
  getParameters(): { encodings?: { maxBitrate?: number }[] } & Record<string, any>;
  setParameters(parameters: any): Promise<void>;
}

export interface BitrateOptions {
  /** Video send cap at `excellent` (bit/s). @default 2500000 */
  maxVideoBitrate?: number;
  /** Audio send cap at `excellent` (bit/s); Opus stays intelligible far below it. @default 64000 */
  maxAudioBitrate?: number;
  /** Share of the cap kept at each level. @default { excellent: 1, good: 0.7, poor: 0.4, critical: 0.15 } */
  factors?: Partial<Record<NetworkQuality, number>>;
  /** Audio never goes below this (bit/s). @default 16000 */
  minAudioBitrate?: number;
}

const FACTORS: Record<NetworkQuality, number> = { excellent: 1, good: 0.7, poor: 0.4, critical: 0.15 };

/**
 * The send caps for one level.
 *
 * @example
 * bitrateFor('poor'); // { video: 1000000, audio: 40477 }
 */
export function bitrateFor(
  level: NetworkQuality,
  options: BitrateOptions = {},
): { video: number; audio: number } {
  const f = { ...FACTORS, ...options.factors }[level];
  const video = Math.round((options.maxVideoBitrate ?? 2_500_000) * f);
  // audio is protected: cut it much less than video, since losing voice ends a call
  const audio = Math.round(
    Math.max(options.minAudioBitrate ?? 16_000, (options.maxAudioBitrate ?? 64_000) * Math.sqrt(f)),
  );
  return { video, audio };
}

/**
 * Caps the send bitrate of every sender for a quality level with
 * `RTCRtpSender.setParameters` (no renegotiation, applies within one RTCP round trip).
 * Failures of one sender (e.g. a track being replaced) do not stop the others.
 *
 * @example
 * await applyBitrate(pc.getSenders(), 'poor');
 */
export async function applyBitrate(
  senders: readonly SenderLike[],
  level: NetworkQuality,
  options: BitrateOptions = {},
): Promise<void> {
  const caps = bitrateFor(level, options);
  await Promise.allSettled(
    senders.map(async (sender) => {
      const kind = sender.track?.kind;
      if (kind !== 'video' && kind !== 'audio') return;
      const params = sender.getParameters();
      // Firefox returns no encodings before the first negotiation; one entry sets the cap
      if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
      for (const e of params.encodings) e.maxBitrate = kind === 'video' ? caps.video : caps.audio;
      await sender.setParameters(params);
    }),
  );
}
