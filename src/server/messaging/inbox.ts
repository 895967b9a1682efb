import type { Address, DirectMessage } from '../../protocol/messaging.js';
import type { Engine, StreamEntry } from '../engine/types.js';

const TO_FIELD = '"to":"';

/** What a stored entry holds (the id is the stream id). */
interface Stored {
  from: Address;
  to: Address;
  content: string;
  encrypted: boolean;
  timestamp: number;
}

/**
 * The inbox: one engine stream per recipient address holding its messages until a
 * device acknowledges them (Redis Streams with the redis engine). Ids are stream ids, so
 * they sort in the order messages were stored, which is the order of delivery.
 * Bounded by P3_INBOX_MAX entries and P3_INBOX_TTL age (oldest trimmed first).
 *
 * Every stored message is also published on the `notify` channel in the same engine step
 * (`[[id, stored], …]`, several messages per notice when appends were batched), so each
 * node hears of it without a second command and a node that dies right after storing
 * cannot leave it unannounced.
 */
export function createInbox(deps: { engine: Engine; maxLen: number; ttlMs: number; notify: string }) {
  const { engine, maxLen, ttlMs, notify } = deps;
  const key = (address: Address) => `inbox:${address}`;
  const idemKey = (from: Address, clientMsgId: string) => `msg:cid:${from}:${clientMsgId}`;

  /** The fields an inbox entry stores (a copy: no extra field of the caller's object is kept). */
  const toStored = (m: Stored): Stored => ({
    from: m.from,
    to: m.to,
    content: m.content,
    encrypted: m.encrypted,
    timestamp: m.timestamp,
  });

  /**
   * The recipient of a stored entry without parsing it: toStored writes `from` then `to`,
   * both addresses, so the first `"to":"` is the field (undefined: decode it to know).
   */
  const recipientOf = (data: string): Address | undefined => {
    const i = data.indexOf(TO_FIELD);
    if (i < 0 || i > 64) return undefined;
    const start = i + TO_FIELD.length;
    const end = start + 42; // an address: 0x and 40 hex digits, then the closing quote
    return data.charCodeAt(end) === 34 && data.startsWith('0x', start)
      ? (data.slice(start, end) as Address)
      : undefined;
  };

  const decode = (e: StreamEntry): DirectMessage | undefined => {
    try {
      return { id: e.id, ...toStored(JSON.parse(e.data) as Stored) };
    } catch {
      return undefined;
    }
  };

  return {
    decode,

    /** Calls `handler` with the messages of every notice (stored ones, and announced ones). */
    subscribe(
      handler: (messages: DirectMessage[]) => void,
      /** Skips (without decoding) the messages whose recipient this says no to. */
      wants: (to: Address) => boolean = () => true,
    ): Promise<() => Promise<void>> {
      return engine.subscribe(notify, (raw) => {
        const rows = parseNotice(raw);
        if (!rows) return;
        const out: DirectMessage[] = [];
        for (const row of rows) {
          if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'string') continue;
          const to = recipientOf(row[1]);
          if (to !== undefined && !wants(to)) continue;
          const m = decode({ id: row[0], data: row[1] });
          if (m) out.push(m);
        }
        if (out.length > 0) handler(out);
      });
    },

    /** Publishes a notice of an already stored message (a retry redelivering it). */
    async announce(m: DirectMessage): Promise<void> {
      await engine.publish(notify, JSON.stringify([[m.id, JSON.stringify(toStored(m))]]));
    },

    /** Stores a message; resolves with its id once it is durable. */
    async append(m: Omit<DirectMessage, 'id'>): Promise<DirectMessage> {
      const stored = toStored(m);
      const id = await engine.streamAppend(key(m.to), JSON.stringify(stored), {
        maxLen,
        minAgeMs: ttlMs,
        expireMs: ttlMs,
        notify,
      });
      return { id, ...stored };
    },

    /**
     * Stores a message once per (sender, clientMsgId), atomically: a retry, on any node and
     * at any time within `onceTtlMs`, gets the first attempt's id and stores nothing.
     */
    async appendOnce(
      m: Omit<DirectMessage, 'id'>,
      clientMsgId: string,
      onceTtlMs = ttlMs,
    ): Promise<{ msg: DirectMessage; created: boolean }> {
      const stored = toStored(m);
      const { id, created } = await engine.streamAppendOnce(
        key(m.to),
        JSON.stringify(stored),
        idemKey(m.from, clientMsgId),
        onceTtlMs,
        { maxLen, minAgeMs: ttlMs, expireMs: ttlMs, notify },
      );
      return { msg: { id, ...stored }, created };
    },

    /** Up to `count` messages with ids after `afterId`, oldest first. */
    async page(address: Address, afterId: string, count: number): Promise<DirectMessage[]> {
      const rows = await engine.streamRange(key(address), afterId, count);
      const out: DirectMessage[] = [];
      for (const r of rows) {
        const m = decode(r);
        if (m) out.push(m);
      }
      return out;
    },

    /**
     * Removes acknowledged messages; resolves with how many this call removed (each one is
     * removed by exactly one caller). In the same engine step, the removed ids are published
     * on `receipts.channel` grouped by sender: `[[from, [id, …], tag], …]` with `tag` the
     * caller's JSON (who read them, when), so each sender gets one delivery receipt and a
     * node that dies right after the removal cannot lose it.
     */
    async remove(
      address: Address,
      ids: string[],
      receipts: { channel: string; tag: string },
    ): Promise<number> {
      const taken = await engine.streamTake(key(address), [...new Set(ids)], {
        channel: receipts.channel,
        // toStored writes `from` first: the engine reads each sender from the stored text
        field: 'from',
        tag: receipts.tag,
      });
      return taken.length;
    },
  };
}

export type Inbox = ReturnType<typeof createInbox>;

/** The greatest stream id below `id` (for an exclusive range read that starts at `id`). */
export function previousId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  const s = Number(seq);
  if (s > 0) return `${ms}-${s - 1}`;
  return `${Math.max(0, Number(ms) - 1)}-9999999999999999`;
}

/** An internal channel's notice: a JSON array (undefined for anything else). */
export function parseNotice(raw: string): unknown[] | undefined {
  try {
    const list: unknown = JSON.parse(raw);
    return Array.isArray(list) ? list : undefined;
  } catch {
    return undefined;
  }
}
