/**
 * §3 Signaling: WebSocket `/signaling`. Frame types and the validators the server runs
 * at the edge; the client SDK imports the same types and the quality classifier.
 */
import { z } from 'zod';
import { ErrorCode } from './errors.js';

export const SIGNALING_PATH = '/signaling';

/** A peer may be in this many rooms at once; one more `join` gets `room_full`. */
export const MAX_ROOMS_PER_PEER = 16;

/** §3 room ids: 1–128 of `A-Za-z0-9_.:-` (safe in engine keys, channels and logs). */
export const SIGNALING_ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export const isValidRoomId = (id: string): boolean => SIGNALING_ROOM_ID.test(id);

// ── call quality (§3.1) ──────────────────────────────────────────────────────────

/** The seed's thresholds: also served by GET /v1/webrtc/config. */
export const QUALITY_THRESHOLDS = { rttMs: 300, packetLossPct: 5, iceTimeoutMs: 8000 } as const;

export const NETWORK_QUALITY_LEVELS = ['excellent', 'good', 'poor', 'critical'] as const;
export type NetworkQuality = (typeof NETWORK_QUALITY_LEVELS)[number];

/** One sample of a call's RTCStats, as the client reports it. */
export interface StatsData {
  /** Round-trip time (ms). */
  rtt: number;
  /** Packet jitter (ms). */
  jitter: number;
  /** Packet loss (%). */
  packetLoss: number;
  /** bit/s */
  bitrate: number;
  codec: string;
  iceState: string;
  /** ms since the epoch */
  timestamp: number;
}

/**
 * The seed's classifier, shared by the server (metrics) and the SDK (adaptive quality).
 *
 * @example
 * assessNetworkQuality({ rtt: 80, packetLoss: 0.5 }); // 'excellent'
 */
export function assessNetworkQuality(stats: Pick<StatsData, 'rtt' | 'packetLoss'>): NetworkQuality {
  if (stats.rtt < 100 && stats.packetLoss < 1) return 'excellent';
  if (stats.rtt < QUALITY_THRESHOLDS.rttMs && stats.packetLoss < QUALITY_THRESHOLDS.packetLossPct)
    return 'good';
  if (stats.rtt < 500 && stats.packetLoss < 10) return 'poor';
  return 'critical';
}

// ── client → server ──────────────────────────────────────────────────────────────

const nonNegative = z.number().nonnegative();

export const StatsDataSchema = z.object({
  rtt: nonNegative,
  jitter: nonNegative,
  packetLoss: nonNegative.max(100),
  bitrate: nonNegative,
  codec: z.string().max(64),
  iceState: z.string().max(32),
  timestamp: z.number(),
});

/** RTCSessionDescriptionInit; unknown extra fields pass through to the peer. */
const SessionDescriptionSchema = z.looseObject({
  type: z.enum(['offer', 'answer', 'pranswer', 'rollback']),
  sdp: z.string().optional(),
});

/** RTCIceCandidateInit; `candidate: ''` is the end-of-candidates marker. */
const IceCandidateSchema = z.looseObject({
  candidate: z.string().optional(),
  sdpMid: z.string().nullable().optional(),
  sdpMLineIndex: z.number().int().nonnegative().nullable().optional(),
  usernameFragment: z.string().nullable().optional(),
});

/** roomId is checked for type here and for its alphabet after (`invalid_room`, not `bad_request`). */
const roomId = z.string();
const peerId = z.string().min(1).max(64);

export const SignalingAuthFrameSchema = z.union([
  z.object({ type: z.literal('auth'), token: z.string().min(1).max(4096) }),
  z.object({
    type: z.literal('auth'),
    /** Optional (the seed sends it); when given it must be the message's address. */
    address: z.string().optional(),
    message: z.string().min(1).max(8192),
    signature: z.string().min(1).max(1024),
  }),
]);
export type SignalingAuthFrame = z.infer<typeof SignalingAuthFrameSchema>;

export const SignalingClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('join'), roomId }),
  z.object({ type: z.literal('offer'), roomId, data: SessionDescriptionSchema, to: peerId.optional() }),
  z.object({ type: z.literal('answer'), roomId, data: SessionDescriptionSchema, to: peerId.optional() }),
  z.object({ type: z.literal('ice'), roomId, data: IceCandidateSchema, to: peerId.optional() }),
  z.object({ type: z.literal('end'), roomId }),
  z.object({ type: z.literal('leave'), roomId }),
  z.object({ type: z.literal('stats'), roomId, data: StatsDataSchema }),
  z.object({ type: z.literal('heartbeat') }),
  z.object({ type: z.literal('ping') }),
]);
export type SignalingClientFrame = z.infer<typeof SignalingClientFrameSchema> | SignalingAuthFrame;
export type SignalingRelayType = 'offer' | 'answer' | 'ice';

/** Frame types served before authentication. */
export const SIGNALING_PUBLIC_TYPES = ['heartbeat', 'ping'] as const;

export type SignalingParseResult =
  | { ok: true; frame: z.infer<typeof SignalingClientFrameSchema> }
  | { ok: false; code: typeof ErrorCode.badRequest | typeof ErrorCode.invalidRoom; message: string };

type RelayFrame = Extract<z.infer<typeof SignalingClientFrameSchema>, { type: SignalingRelayType }>;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (v: unknown) => v === undefined || typeof v === 'string';
const optNullableString = (v: unknown) => v === undefined || v === null || typeof v === 'string';
const DESCRIPTION_TYPES = new Set(['offer', 'answer', 'pranswer', 'rollback']);

/**
 * The relays (offer, answer, ice: nearly every frame of a call) checked by hand, accepting
 * exactly what the schema accepts and nothing more, without the copy a schema parse makes.
 * Anything it does not accept goes through the schema, which names the problem.
 */
export function relayFastPath(raw: unknown): RelayFrame | undefined {
  if (!isPlainObject(raw)) return undefined;
  const { type, roomId, data, to } = raw;
  if (type !== 'ice' && type !== 'offer' && type !== 'answer') return undefined;
  if (typeof roomId !== 'string' || !isValidRoomId(roomId) || !isPlainObject(data)) return undefined;
  if (to !== undefined && (typeof to !== 'string' || to.length < 1 || to.length > 64)) return undefined;
  if (type === 'ice') {
    const i = data.sdpMLineIndex;
    const indexOk =
      i === undefined || i === null || (typeof i === 'number' && Number.isSafeInteger(i) && i >= 0);
    if (
      !indexOk ||
      !optString(data.candidate) ||
      !optNullableString(data.sdpMid) ||
      !optNullableString(data.usernameFragment)
    )
      return undefined;
  } else if (typeof data.type !== 'string' || !DESCRIPTION_TYPES.has(data.type) || !optString(data.sdp)) {
    return undefined;
  }
  return (to === undefined ? { type, roomId, data } : { type, roomId, data, to }) as RelayFrame;
}

/**
 * Validates one parsed JSON frame (not `auth`, which the endpoint handles): the wrong shape
 * is `bad_request` naming the first bad field; a well-typed roomId outside the §3 alphabet
 * is `invalid_room`.
 */
export function parseSignalingFrame(raw: unknown): SignalingParseResult {
  const relay = relayFastPath(raw);
  if (relay) return { ok: true, frame: relay };
  const r = SignalingClientFrameSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    // never String() an attacker's value: an object with a non-callable toString throws
    const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
    const label = typeof type === 'string' ? type.slice(0, 32) : `(${typeof type})`;
    const unknownType = issue?.path.length === 1 && issue.path[0] === 'type';
    return {
      ok: false,
      code: ErrorCode.badRequest,
      message: unknownType
        ? `Unknown frame type "${label}"`
        : `Invalid ${label} frame: ${where}${issue?.message ?? 'bad shape'}`,
    };
  }
  if ('roomId' in r.data && !isValidRoomId(r.data.roomId)) {
    return { ok: false, code: ErrorCode.invalidRoom, message: 'roomId must be 1-128 of A-Za-z0-9_.:-' };
  }
  return { ok: true, frame: r.data };
}

// ── server → client ──────────────────────────────────────────────────────────────

export interface SignalingPeer {
  peerId: string;
  /** EIP-55 */
  address: string;
}

export type SignalingServerFrame =
  | { type: 'auth_ok'; address: string; peerId: string; expiresAt: number }
  | { type: 'joined'; roomId: string; peerId: string; peers: SignalingPeer[] }
  | { type: 'peer_joined'; roomId: string; peer: SignalingPeer }
  /** Also sent to a peer with its own peerId when its membership lapsed (it may join again). */
  | { type: 'peer_left'; roomId: string; peerId: string }
  | { type: SignalingRelayType; roomId: string; from: string; fromAddress: string; data: unknown }
  | { type: 'end'; roomId: string; from: string; fromAddress: string }
  | { type: 'pong'; serverTime: number }
  | { type: 'error'; data: { code: string; message: string } };
