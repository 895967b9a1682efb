import type { Receipt, ReceiptInput, ReceiptsAccepted, ReceiptsPage } from '../../protocol/lanes.js';
import type { Engine } from '../engine/types.js';
import { serialise } from './history.js';

/**
 * The receipts stream, also read straight from Redis by services: key `p3:lanes:receipts`,
 * one field `d` holding the JSON of a Receipt without its `id` (the entry id is the id).
 * Consumer groups (XREADGROUP/XACK) work on it as on any stream.
 */
export const RECEIPTS_KEY = 'lanes:receipts';
const receiptIdKey = (sid: string, id: string) => `lanes:receipt-id:${sid}:${id}`;

export interface Receipts {
  /** Appends a batch (in order); a receipt whose `id` was seen for this session counts once. */
  accept(sid: string, address: string, inputs: ReceiptInput[]): Promise<ReceiptsAccepted>;
  read(after: string, limit: number): Promise<ReceiptsPage>;
}

export function createReceipts(options: {
  engine: Engine;
  maxLen: number;
  ttlMs: number;
  maxDataBytes: number;
  now: () => number;
}): Receipts {
  const { engine, ttlMs, now } = options;
  const appendOptions = { maxLen: options.maxLen, minAgeMs: ttlMs };
  return {
    async accept(sid, address, inputs) {
      const receivedAt = now();
      const rows = inputs.map((r) => {
        const data = serialise(r.data, options.maxDataBytes);
        const receiptId = r.id === undefined ? '' : `,"receiptId":${JSON.stringify(r.id)}`;
        return `{"sid":${JSON.stringify(sid)},"address":"${address}","type":${JSON.stringify(r.type)},"data":${data}${receiptId},"receivedAt":${receivedAt}}`;
      });
      // the id lives as long as receipts are retained: a retry within that window is a duplicate
      const fresh = await Promise.all(
        inputs.map((r) =>
          r.id === undefined ? true : engine.setIfAbsent(receiptIdKey(sid, r.id), '1', ttlMs),
        ),
      );
      await Promise.all(
        rows.map((row, i) => (fresh[i] ? engine.streamAppend(RECEIPTS_KEY, row, appendOptions) : null)),
      );
      const accepted = fresh.filter(Boolean).length;
      return { accepted, duplicates: inputs.length - accepted };
    },
    async read(after, limit) {
      const rows = await engine.streamRange(RECEIPTS_KEY, after, limit);
      const receipts = rows.map((r) => ({ id: r.id, ...(JSON.parse(r.data) as Omit<Receipt, 'id'>) }));
      return { receipts, next: rows.at(-1)?.id ?? after };
    },
  };
}
