/**
 * §3 Signaling: the zod validators the server runs at the edge, for the types of
 * signaling.ts. Server-only: the client SDK must not import this module (it would ship zod).
 */
import { z } from 'zod';
import { ErrorCode } from './errors.js';
import {
  isValidRoomId,
  type SignalingAuthFrame,
  type SignalingIceCandidate,
  type SignalingRelayType,
  type SignalingRequestFrame,
  type SignalingSessionDescription,
  type StatsData,
} from './signaling.js';
import type { Equal, Expect } from './type-check.js';

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

/** The schemas infer exactly the hand-written types of signaling.ts. */
type _Checks = [
  Expect<Equal<z.infer<typeof StatsDataSchema>, StatsData>>,
  Expect<Equal<z.infer<typeof SessionDescriptionSchema>, SignalingSessionDescription>>,
  Expect<Equal<z.infer<typeof IceCandidateSchema>, SignalingIceCandidate>>,
  Expect<Equal<z.infer<typeof SignalingAuthFrameSchema>, SignalingAuthFrame>>,
  Expect<Equal<z.infer<typeof SignalingClientFrameSchema>, SignalingRequestFrame>>,
];

export type SignalingParseResult =
  | { ok: true; frame: SignalingRequestFrame }
  | { ok: false; code: typeof ErrorCode.badRequest | typeof ErrorCode.invalidRoom; message: string };

type RelayFrame = Extract<SignalingRequestFrame, { type: SignalingRelayType }>;

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
  // JSON.parse makes "__proto__" an own key; the schema drops it: leave such frames to the schema
  if (Object.hasOwn(data, '__proto__')) return undefined;
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
