/**
 * §4 Messaging on Socket.IO at `/socket.io`: payload types and the typed event maps shared
 * by the server and the client SDK. Zod-free: the runtime validators of the payloads are
 * in messaging.schema.ts.
 *
 * @example
 * import { io, type Socket } from 'socket.io-client';
 * const socket: Socket<ServerToClientEvents, ClientToServerEvents> =
 *   io(url, { path: MESSAGING_PATH, auth: { token } });
 * socket.emit('message:send', { to, content: 'hi' }, (ack) => { if (ack.ok) console.log(ack.id); });
 */
import type { ErrorBody } from './errors.js';

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

// ── payload types ────────────────────────────────────────────────────────────────

export type Address = `0x${string}`;
export type PresenceStatus = 'online' | 'away' | 'busy' | 'offline';
export type CallMedia = 'audio' | 'video';

/**
 * What a client sends. Addresses are 0x-prefixed 20-byte hex in any case (the server uses
 * their EIP-55 form); room ids follow the §3 rule (1-128 of `A-Za-z0-9_.:-`); message ids
 * are inbox stream ids (`<ms>-<seq>`), at most `MAX_IDS_PER_CALL` per call.
 */
export type MessageSendRequest = {
  to: string;
  content: string;
  encrypted?: boolean;
  /** 1-128 characters: a retry with the same id is sent once. */
  clientMsgId?: string;
};
export type MessageAckRequest = { ids: string[] };
export type MessageReadRequest = { from: string; ids: string[] };
export type PresenceSetRequest = { status: 'online' | 'away' | 'busy' };
/** At most `MAX_PRESENCE_SUBSCRIPTIONS` addresses. */
export type PresenceSubscribeRequest = { addresses: string[] };
/** Typing concerns a direct conversation: its id is the other party's address. */
export type TypingRequest = { conversationId: string };
export type CallInviteRequest = { to: string; roomId: string; media: CallMedia };
export type CallRoomRequest = { roomId: string };
export type CallEndRequest = {
  roomId: string;
  /** At most 64 characters. */
  reason?: string;
};

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
  /** This call of the room: a roomId may be used again once its call ended. */
  callId?: string;
}

export interface CallEvent {
  roomId: string;
  from: Address;
  reason?: string;
  /** The call the event is about (see CallIncoming.callId). */
  callId?: string;
}

/** Why a ring or call ended (`call:ended.reason`); clients may send their own words too. */
export const CallEndReason = {
  answeredElsewhere: 'answered_elsewhere',
  rejectedElsewhere: 'rejected_elsewhere',
  cancelled: 'cancelled',
  missed: 'missed',
  hangup: 'hangup',
  /** Every device of the other party left and none came back within P3_CALL_LEFT_GRACE. */
  left: 'left',
} as const;

// ── acks and event maps ──────────────────────────────────────────────────────────

export type AckError = { ok: false; error: ErrorBody };
/** Every acknowledgement: `{ ok: true, … }` or `{ ok: false, error: { code, message } }`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | AckError;
type AckFn<T extends object = object> = (answer: Ack<T>) => void;

export type CallInviteAck = { roomId: string; status: 'ringing' | 'accepted'; callId?: string };

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
