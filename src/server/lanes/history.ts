import { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import type { LaneEventInput, LaneName, LostEventData, PublishResponse } from '../../protocol/lanes.js';
import { compareStreamIds, type Engine, parseStreamId } from '../engine/types.js';

/** One retained lane event. `frame`/`muxBody` are rendered once per node and cached here. */
export interface LaneEntry {
  id: string;
  type: string;
  /** `data`, serialised once at publish time (JSON.stringify never emits a raw CR or LF). */
  json: string;
  frame?: string;
  muxBody?: string;
}

/** The SSE frame of a lane stream: `event:`, `id:`, one `data:` line. */
/** Entries read together; `text` is their lane frames, joined once when first needed. */
export interface LanePage {
  entries: LaneEntry[];
  text?: string;
}

export const laneFrame = (e: LaneEntry) => (e.frame ??= `event: ${e.type}\nid: ${e.id}\ndata: ${e.json}\n\n`);

export const laneKey = (sid: string, lane: LaneName) => `lanes:${sid}:${lane}`;
/** Pub/sub channel of a lane: carries only "an append happened, up to id X". */
export const laneChannel = (sid: string, lane: LaneName) => `p3:lanes:${sid}:${lane}`;
const publishedKey = (sid: string, lane: LaneName, id: string) => `lanes:published:${sid}:${lane}:${id}`;

/** Largest history read: one range read and one write replay a default-sized lane. */
export const PAGE = 1000;

// The type is validated free of LF, so the first LF separates it from the JSON.
const encode = (type: string, json: string) => `${type}\n${json}`;
function decode(id: string, data: string): LaneEntry {
  const i = data.indexOf('\n');
  return { id, type: data.slice(0, i), json: data.slice(i + 1) };
}

/** `data` as JSON, refused when it cannot be serialised or is larger than `max` bytes. */
export function serialise(data: unknown, max: number): string {
  let json: string;
  try {
    json = JSON.stringify(data ?? null);
  } catch (error) {
    throw new ProtocolError(ErrorCode.badRequest, 'data is not serialisable as JSON', { cause: error });
  }
  if (json.length > max / 3 && Buffer.byteLength(json) > max) {
    throw new ProtocolError(ErrorCode.payloadTooLarge, `data is larger than ${max} bytes`);
  }
  return json;
}

export interface ResumeResult {
  entries: LaneEntry[];
  lost: LostEventData | null;
  /** The position after `lost` and the entries: where live delivery continues. */
  position: string;
  /** The page was full: read on from `position`. */
  more: boolean;
}

export interface LaneHistory {
  /** Appends (in order) and notifies every node; a retried event `id` is appended once. */
  append(sid: string, lane: LaneName, events: LaneEventInput[]): Promise<PublishResponse>;
  range(sid: string, lane: LaneName, after: string, count?: number): Promise<LaneEntry[]>;
  /** The first page after a client's Last-Event-ID, and whether events were lost before it. */
  resume(sid: string, lane: LaneName, lastId: string): Promise<ResumeResult>;
}

export function createLaneHistory(options: {
  engine: Engine;
  maxLen: number;
  ttlMs: number;
  /** Largest serialised `data` of one event: history is bounded in bytes, not only in count. */
  maxEventBytes: number;
  now: () => number;
  onNotifyError: (error: Error) => void;
}): LaneHistory {
  const { engine, maxLen, ttlMs, now } = options;
  const appendOptions = { maxLen, minAgeMs: ttlMs, expireMs: ttlMs };

  const range: LaneHistory['range'] = async (sid, lane, after, count = PAGE) =>
    (await engine.streamRange(laneKey(sid, lane), after, count)).map((r) => decode(r.id, r.data));

  return {
    range,
    async append(sid, lane, events) {
      const encoded = events.map((e) => encode(e.type, serialise(e.data, options.maxEventBytes)));
      const key = laneKey(sid, lane);
      // An event with a publisher id is appended at most once, atomically with the claim of
      // its id (a claim followed by a failed append would make the retry a "duplicate" of
      // an event that was never stored). Issued in one tick and in order, so the stream ids
      // follow the batch order.
      const results = await Promise.all(
        encoded.map((data, i) => {
          const eventId = events[i]!.id;
          return eventId === undefined
            ? engine.streamAppend(key, data, appendOptions).then((id) => ({ id, created: true }))
            : engine.streamAppendOnce(key, data, publishedKey(sid, lane, eventId), ttlMs, appendOptions);
        }),
      );
      const ids = results.map((r) => r.id);
      const appended = results.map((r) => (r.created ? r.id : null));
      const last = appended.filter((id) => id !== null).at(-1);
      if (last) {
        // Stored before notified: a node that hears of X can read up to X.
        await engine.publish(laneChannel(sid, lane), last).catch((e: Error) => options.onNotifyError(e));
      }
      return { ids, duplicates: results.filter((r) => !r.created).length };
    },

    async resume(sid, lane, lastId) {
      const key = laneKey(sid, lane);
      // Range before info (both go out in this order): a trim between the two can only
      // make us report a loss that did not happen, never hide one that did.
      const [rows, info] = await Promise.all([engine.streamRange(key, lastId, PAGE), engine.streamInfo(key)]);
      const more = rows.length === PAGE;
      // minAgeMs trims only on append: an idle lane may still hold events past their age.
      const cutoff = now() - ttlMs;
      let aged: string | undefined;
      const entries: LaneEntry[] = [];
      for (const r of rows) {
        if (parseStreamId(r.id)[0] < cutoff) aged = r.id;
        else entries.push(decode(r.id, r.data));
      }
      let lost: LostEventData | null = null;
      let position = lastId;
      const isNone = lastId === '0-0' || lastId === '0';
      if (info.lastId === null && !isNone) {
        lost = { lane, lastEventId: lastId, retainedAfter: lastId, reason: 'expired' };
      } else if (info.lastId !== null && compareStreamIds(lastId, info.lastId) > 0) {
        // an id this lane never issued: restart from the newest so live events flow
        lost = { lane, lastEventId: lastId, retainedAfter: info.lastId, reason: 'unknown_id' };
        position = info.lastId;
      } else {
        let gone = compareStreamIds(lastId, info.maxDeletedId) < 0 ? info.maxDeletedId : undefined;
        if (aged && (!gone || compareStreamIds(aged, gone) > 0)) gone = aged;
        if (gone) {
          lost = { lane, lastEventId: lastId, retainedAfter: gone, reason: 'trimmed' };
          position = gone;
        }
      }
      const tail = entries.at(-1);
      if (tail && compareStreamIds(tail.id, position) > 0) position = tail.id;
      return { entries, lost, position, more };
    },
  };
}
