/**
 * §5 Server-Sent Events lanes: paths, bodies, control events and the event-id formats,
 * shared by the server and the client SDK. Zod-free: the body validators the server runs
 * at the edge are in lanes.schema.ts.
 */

/** The three readable lanes of a session (the seed's Atlas API v2 lanes). */
export const LANES = ['manifests', 'access', 'catalog'] as const;
export type LaneName = (typeof LANES)[number];

export function isLaneName(s: string): s is LaneName {
  return (LANES as readonly string[]).includes(s);
}

export const LanePaths = {
  sessions: '/v1/session',
  lane: '/v1/session/:sid/lane/:lane',
  /** The multiplexed stream: every lane of a session on one connection (`?lanes=a,b` narrows it). */
  stream: '/v1/session/:sid/stream',
  publish: '/v1/session/:sid/lane/:lane/events',
  receipts: '/v1/session/:sid/lane/receipts',
  receiptsFeed: '/v1/receipts',
} as const;

/** Largest receipt batch; a larger one gets 413. */
export const MAX_RECEIPT_BATCH = 100;
/** Largest publish batch; a larger one gets 413. */
export const MAX_PUBLISH_BATCH = 1000;
/** Largest page of `GET /v1/receipts`. */
export const MAX_RECEIPTS_PAGE = 1000;

/**
 * Events the server itself sends on a stream. A publisher may not use these types.
 * - `ready`: first event of every stream; its id is where the stream starts, so a
 *   reconnect before any event still resumes from the right place.
 * - `lost`: events after the client's Last-Event-ID were trimmed from history (count
 *   or age bound) before it came back; what is still retained follows.
 * - `expired`: the token expired; the stream ends. Sign in again, then reconnect
 *   with the new token and the last id.
 */
export const LaneControl = { ready: 'ready', lost: 'lost', expired: 'expired' } as const;

/** One event as a service publishes it. `id` (optional) makes a retried publish count once. */
export type LaneEventInput = {
  type: string;
  data?: unknown;
  id?: string;
};

/** One receipt as the session's owner sends it. `id` (optional) makes a retry count once. */
export type ReceiptInput = {
  type: string;
  data?: unknown;
  id?: string;
};

export interface SessionResponse {
  sid: string;
  /** ms since the epoch */
  expiresAt: number;
}

export interface PublishResponse {
  /** The stream id of each event, in order (a retried event's original id). */
  ids: string[];
  /** Events not appended again because their `id` was already published. */
  duplicates: number;
}

export interface ReceiptsAccepted {
  accepted: number;
  /** Receipts not appended again because their `id` was already received. */
  duplicates: number;
}

export interface Receipt {
  /** Stream id of the receipts stream: pass the last one as `after`. */
  id: string;
  sid: string;
  address: string;
  type: string;
  data: unknown;
  /** The client's receipt id, when it sent one. */
  receiptId?: string;
  /** ms since the epoch */
  receivedAt: number;
}

export interface ReceiptsPage {
  receipts: Receipt[];
  /** Pass as `after` to read on (equals `after` when the page is empty). */
  next: string;
}

/** `data` of the `lost` control event. */
export interface LostEventData {
  lane: LaneName;
  /** The id the client came back with (its lane part). */
  lastEventId: string;
  /** Events up to and including this id are no longer retained. */
  retainedAfter: string;
  reason: 'trimmed' | 'expired' | 'unknown_id';
}

/** `data` of the `ready` control event. */
export interface ReadyEventData {
  sid: string;
  lanes: LaneName[];
  resumed: boolean;
}

/** `data` of an event on the multiplexed stream (`event: <lane>`). */
export interface MuxEventData<T = unknown> {
  type: string;
  data: T;
}

const STREAM_ID = /^\d{1,16}-\d{1,16}$/;
export const isLaneEventId = (s: string) => STREAM_ID.test(s);

/** One letter per lane in a multiplexed id. */
const LANE_TAG: Record<LaneName, string> = { manifests: 'm', access: 'a', catalog: 'c' };
const TAG_LANE: Record<string, LaneName> = { m: 'manifests', a: 'access', c: 'catalog' };

/**
 * The id of an event on the multiplexed stream: every lane's position, e.g.
 * `m:1732590000000-0,a:0-0,c:1732590000123-4`. The browser keeps only the last id, so one
 * Last-Event-ID must say where each lane stopped; the stream sends it on every event.
 */
export function formatMuxId(positions: Partial<Record<LaneName, string>>): string {
  let out = '';
  for (const lane of LANES) {
    const p = positions[lane];
    if (p !== undefined) out += (out ? ',' : '') + LANE_TAG[lane] + ':' + p;
  }
  return out;
}

/** Parses a multiplexed id; undefined when malformed. */
export function parseMuxId(id: string): Partial<Record<LaneName, string>> | undefined {
  const out: Partial<Record<LaneName, string>> = {};
  for (const part of id.split(',')) {
    const lane = TAG_LANE[part.slice(0, 1)];
    const pos = part.slice(2);
    if (!lane || part[1] !== ':' || !STREAM_ID.test(pos) || out[lane] !== undefined) return undefined;
    out[lane] = pos;
  }
  return out;
}
