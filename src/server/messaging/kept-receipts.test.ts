import { describe, expect, it } from 'vitest';
import type { Address } from '../../protocol/messaging.js';
import { KeptReceipts, type Receipt } from './kept-receipts.js';

const A: Address = '0x000000000000000000000000000000000000000A';
const B: Address = '0x000000000000000000000000000000000000000B';
const receipt = (to: Address, n: number, timestamp: number, ids = 1): Receipt => ({
  to,
  ids: Array.from({ length: ids }, (_, i) => `${n}-${i}`),
  by: B,
  timestamp,
});

describe('KeptReceipts', () => {
  it('answers by address and time, oldest first', () => {
    const kept = new KeptReceipts({ maxReceipts: 100, maxIds: 1000, maxAgeMs: 60_000 }, () => 0);
    kept.add(receipt(A, 1, 100));
    kept.add(receipt(B, 2, 150));
    kept.add(receipt(A, 3, 200));
    expect(kept.since(A, 0).map((r) => r.ids[0])).toEqual(['1-0', '3-0']);
    expect(kept.since(A, 150).map((r) => r.ids[0])).toEqual(['3-0']);
    expect(kept.since(B, 151)).toEqual([]);
  });

  it('drops the oldest past the count, the ids held or the age', () => {
    let t = 0;
    const kept = new KeptReceipts({ maxReceipts: 3, maxIds: 10, maxAgeMs: 1_000 }, () => t);
    for (let n = 0; n < 5; n++) kept.add(receipt(A, n, n));
    expect(kept.size).toBe(3);
    expect(kept.since(A, 0).map((r) => r.ids[0])).toEqual(['2-0', '3-0', '4-0']);
    kept.add(receipt(B, 9, 9, 9)); // 3 + 9 ids > 10: the A receipts go until it fits
    expect(kept.ids).toBeLessThanOrEqual(10);
    expect(kept.since(A, 0).map((r) => r.ids[0])).toEqual(['4-0']);
    t = 5_000; // past the window: nothing is old enough to replay
    expect(kept.since(B, 0)).toEqual([]);
    expect(kept.size).toBe(0);
  });

  it('keeps nothing when the window is off', () => {
    const kept = new KeptReceipts({ maxReceipts: 10, maxIds: 10, maxAgeMs: 0 }, () => 0);
    kept.add(receipt(A, 1, 1));
    expect(kept.size).toBe(0);
  });
});
