/**
 * §4 Messaging: the zod validators of the payloads the server accepts, for the types of
 * messaging.ts. Server-only: the client SDK must not import this module (it would ship zod).
 */
import { z } from 'zod';
import { checksumAddress } from './address.js';
import { ErrorCode } from './errors.js';
import {
  type AckError,
  type CallEndRequest,
  type CallInviteRequest,
  type CallRoomRequest,
  MAX_IDS_PER_CALL,
  MAX_PRESENCE_SUBSCRIPTIONS,
  type MessageAckRequest,
  type MessageReadRequest,
  type MessageSendRequest,
  type PresenceSetRequest,
  type PresenceSubscribeRequest,
  type TypingRequest,
} from './messaging.js';
import type { Equal, Expect } from './type-check.js';

/** A 0x address in any case; parsed into its EIP-55 checksum form (the room key). */
export const AddressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((a) => checksumAddress(a));

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

/** What a client may send is exactly what the schemas accept as input (messaging.ts). */
type _Checks = [
  Expect<Equal<z.input<typeof MessageSendSchema>, MessageSendRequest>>,
  Expect<Equal<z.input<typeof MessageAckSchema>, MessageAckRequest>>,
  Expect<Equal<z.input<typeof MessageReadSchema>, MessageReadRequest>>,
  Expect<Equal<z.input<typeof PresenceSetSchema>, PresenceSetRequest>>,
  Expect<Equal<z.input<typeof PresenceSubscribeSchema>, PresenceSubscribeRequest>>,
  Expect<Equal<z.input<typeof TypingSchema>, TypingRequest>>,
  Expect<Equal<z.input<typeof CallInviteSchema>, CallInviteRequest>>,
  Expect<Equal<z.input<typeof CallRoomSchema>, CallRoomRequest>>,
  Expect<Equal<z.input<typeof CallEndSchema>, CallEndRequest>>,
];

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
