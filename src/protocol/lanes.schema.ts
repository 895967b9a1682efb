/**
 * §5 Server-Sent Events lanes: the zod validators of publish and receipt bodies the server
 * runs at the edge, for the types of lanes.ts. Server-only: the client SDK must not import
 * this module (it would ship zod).
 */
import { z } from 'zod';
import { LaneControl, type LaneEventInput, type ReceiptInput } from './lanes.js';
import type { Equal, Expect } from './type-check.js';

const RESERVED_TYPES = new Set<string>(Object.values(LaneControl));

/**
 * CR, LF and NUL would end an SSE field early and let a publisher inject fields of
 * its own (`id:`, `retry:`, whole events): CWE-93. Mercure's Update.Validate and hono's
 * SSE helper refuse them for the same reason.
 */
const SSE_UNSAFE = /[\r\n\0]/;
const sseSafe = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(128, `${what} is at most 128 characters`)
    .refine((s) => !SSE_UNSAFE.test(s), `${what} must not contain CR, LF or NUL`);

const eventType = sseSafe('type').refine((t) => !RESERVED_TYPES.has(t), 'type is reserved');

/** One event as a service publishes it. `id` (optional) makes a retried publish count once. */
export const laneEventInputSchema = z.object({
  type: eventType,
  data: z.unknown().optional(),
  id: sseSafe('id').optional(),
});

/** One receipt as the session's owner sends it. `id` (optional) makes a retry count once. */
export const receiptInputSchema = z.object({
  type: sseSafe('type'),
  data: z.unknown().optional(),
  id: sseSafe('id').optional(),
});

export const publishBodySchema = z.union([laneEventInputSchema, z.array(laneEventInputSchema).min(1)]);
export const receiptsBodySchema = z.union([receiptInputSchema, z.array(receiptInputSchema).min(1)]);

/** The schemas infer exactly the hand-written types of lanes.ts. */
type _Checks = [
  Expect<Equal<z.infer<typeof laneEventInputSchema>, LaneEventInput>>,
  Expect<Equal<z.input<typeof laneEventInputSchema>, LaneEventInput>>,
  Expect<Equal<z.infer<typeof receiptInputSchema>, ReceiptInput>>,
  Expect<Equal<z.input<typeof receiptInputSchema>, ReceiptInput>>,
];
