/**
 * §4 Messaging on Socket.IO at `/socket.io`: payload types, their runtime validators and
 * the typed event maps shared by the server and the client SDK.
 *
 * @example
 * import { io, type Socket } from 'socket.io-client';
 * const socket: Socket<ServerToClientEvents, ClientToServerEvents> =
 *   io(url, { path: MESSAGING_PATH, auth: { token } });
 * socket.emit('message:send', { to, content: 'hi' }, (ack) => { if (ack.ok) console.log(ack.id); });
 */
import { getAddress } from 'viem';
import { z } from 'zod';
import { type ErrorBody, ErrorCode } from './errors.js';

export const MESSAGING_PATH = '/socket.io';
/** Largest `content` of a direct message, in UTF-8 bytes. */
export const MAX_CONTENT_BYTES = 64 * 1024;
/** Largest Socket.IO packet; a larger one closes the connection. */
export const MAX_PACKET_BYTES = 1 << 20;
/** Most ids in one `message:ack` / `message:read`. */
export const MAX_IDS_PER_CALL = 1000;
/** Most addresses in one `presence:subscribe`, and per connection overall. */
export const MAX_PRESENCE_SUBSCRIPTIONS = 1000;

/** Messaging error codes besides the shared ones of `ErrorCode`. */
export const MessagingErrorCode = {
  /** The callee (or the caller) is already in a call. */
  busy: 'busy',
  /** No ringing or active call with that roomId that concerns the caller. */
  callNotFound: 'call_not_found',
  /** A retry with the same clientMsgId arrived while the first attempt was still running. */
  retryLater: 'retry_later',
} as const;

// ── validators ───────────────────────────────────────────────────────────────────

/** A 0x address in any case; parsed into its EIP-55 checksum form (the room key). */
export const AddressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((a) => getAddress(a));

/** The signaling room id rule of §3 (calls name the signaling room to join). */
export const RoomIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 of A-Za-z0-9_.:-');

/** Message ids are the inbox stream ids (`<ms>-<seq>`): they sort in delivery order. */
export const MessageIdSchema = z.string().regex(/^\d{1,16}-\d{1,16}$/, 'must be a message id');

const IdsSchema = z.array(MessageIdSchema).min(1).max(MAX_IDS_PER_CALL);

export const MessageSendSchema = z.object({
  to: AddressSchema,
  content: z.string(),
  encrypted: z.boolean().optional(),
  clientMsgId: z.string().min(1).max(128).optional(),
});
export const MessageAckSchema = z.object({ ids: IdsSchema });
export const MessageReadSchema = z.object({ from: AddressSchema, ids: IdsSchema });
export const PresenceSetSchema = z.object({ status: z.enum(['online', 'away', 'busy']) });
export const PresenceSubscribeSchema = z.object({
  addresses: z.array(AddressSchema).min(1).max(MAX_PRESENCE_SUBSCRIPTIONS),
});
/** Typing concerns a direct conversation: its id is the other party's address. */
export const TypingSchema = z.object({ conversationId: AddressSchema });
export const CallInviteSchema = z.object({
  to: AddressSchema,
  roomId: RoomIdSchema,
  media: z.enum(['audio', 'video']),
});
export const CallRoomSchema = z.object({ roomId: RoomIdSchema });
export const CallEndSchema = z.object({
  roomId: RoomIdSchema,
  reason: z.string().max(64).optional(),
});
/** What a backend publishes on Redis channel `p3:messages`. */
export const BackendMessageSchema = z.object({
  from: AddressSchema,
  to: AddressSchema,
  content: z.string(),
  encrypted: z.boolean().optional(),
});

// ── payload types ────────────────────────────────────────────────────────────────

export type Address = `0x${string}`;
export type PresenceStatus = 'online' | 'away' | 'busy' | 'offline';
export type CallMedia = 'audio' | 'video';

export type MessageSendRequest = z.input<typeof MessageSendSchema>;
export type MessageAckRequest = z.input<typeof MessageAckSchema>;
export type MessageReadRequest = z.input<typeof MessageReadSchema>;
export type PresenceSetRequest = z.input<typeof PresenceSetSchema>;
export type PresenceSubscribeRequest = z.input<typeof PresenceSubscribeSchema>;
export type TypingRequest = z.input<typeof TypingSchema>;
export type CallInviteRequest = z.input<typeof CallInviteSchema>;
export type CallRoomRequest = z.input<typeof CallRoomSchema>;
export type CallEndRequest = z.input<typeof CallEndSchema>;

export interface DirectMessage {
  /** Inbox stream id: unique per recipient, increasing in delivery order. */
  id: string;
  from: Address;
  to: Address;
  content: string;
  encrypted: boolean;
  /** ms since the epoch */
  timestamp: number;
}

/** A receipt: `by` stored (delivered) or read the messages `ids` the receiver got from you. */
export interface MessageReceipt {
  ids: string[];
  by: Address;
  timestamp: number;
}

export interface PresenceState {
  address: Address;
  status: PresenceStatus;
  /** ms since the epoch; null when the address was never seen. */
  lastSeen: number | null;
}

export interface TypingIndicator {
  from: Address;
  conversationId: string;
  isTyping: boolean;
}

export interface CallIncoming {
  from: Address;
  roomId: string;
  media: CallMedia;
}

export interface CallEvent {
  roomId: string;
  from: Address;
  reason?: string;
}

/** Why a ring or call ended (`call:ended.reason`); clients may send their own words too. */
export const CallEndReason = {
  answeredElsewhere: 'answered_elsewhere',
  rejectedElsewhere: 'rejected_elsewhere',
  cancelled: 'cancelled',
  missed: 'missed',
  hangup: 'hangup',
} as const;

// ── acks and event maps ──────────────────────────────────────────────────────────

export type AckError = { ok: false; error: ErrorBody };
/** Every acknowledgement: `{ ok: true, … }` or `{ ok: false, error: { code, message } }`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | AckError;
type AckFn<T extends object = object> = (answer: Ack<T>) => void;

export type CallInviteAck = { roomId: string; status: 'ringing' | 'accepted' };

export interface ClientToServerEvents {
  'message:send': (p: MessageSendRequest, ack: AckFn<{ id: string; timestamp: number }>) => void;
  /** The client stored these: they leave its inbox and the sender gets `message:delivered`. */
  'message:ack': (p: MessageAckRequest, ack?: AckFn<{ removed: number }>) => void;
  /** The user read these messages of `from`: `from` gets `message:read`. */
  'message:read': (p: MessageReadRequest, ack?: AckFn) => void;
  'presence:update': (p: PresenceSetRequest, ack?: AckFn) => void;
  'presence:subscribe': (p: PresenceSubscribeRequest, ack: AckFn<{ presence: PresenceState[] }>) => void;
  'presence:unsubscribe': (p: PresenceSubscribeRequest, ack?: AckFn) => void;
  'typing:start': (p: TypingRequest) => void;
  'typing:stop': (p: TypingRequest) => void;
  'call:invite': (p: CallInviteRequest, ack: AckFn<CallInviteAck>) => void;
  'call:accepted': (p: CallRoomRequest, ack?: AckFn) => void;
  'call:rejected': (p: CallEndRequest, ack?: AckFn) => void;
  'call:ended': (p: CallEndRequest, ack?: AckFn) => void;
}

export interface ServerToClientEvents {
  'message:receive': (m: DirectMessage) => void;
  'message:delivered': (r: MessageReceipt) => void;
  'message:read': (r: MessageReceipt) => void;
  'presence:update': (p: PresenceState) => void;
  'typing:indicator': (t: TypingIndicator) => void;
  'call:incoming': (c: CallIncoming) => void;
  'call:accepted': (c: CallEvent) => void;
  'call:rejected': (c: CallEvent) => void;
  'call:ended': (c: CallEvent) => void;
  'system:announcement': (data: unknown) => void;
  /** An event without an ack callback failed (bad payload, rate limit). */
  error: (e: ErrorBody) => void;
}

/** Parses a payload with `schema`; a failure becomes a `bad_request` error body. */
export function parsePayload<S extends z.ZodType>(
  schema: S,
  payload: unknown,
): { ok: true; data: z.output<S> } | AckError {
  const r = schema.safeParse(payload);
  if (r.success) return { ok: true, data: r.data };
  const issue = r.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return {
    ok: false,
    error: { code: ErrorCode.badRequest, message: `${where}${issue?.message ?? 'invalid payload'}` },
  };
}
