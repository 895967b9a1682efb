import { describe, expect, it } from 'vitest';
import { atEndOfTurn, perTurn } from './batch.js';

describe('perTurn', () => {
  it('runs the calls of one turn as one batch and answers each in order', async () => {
    const batches: number[][] = [];
    const double = perTurn<number, number>(async (items) => {
      batches.push(items);
      return items.map((n) => n * 2);
    }, 100);
    const first = await Promise.all([1, 2, 3].map(double));
    const second = await Promise.all([4, 5].map(double));
    expect(first).toEqual([2, 4, 6]);
    expect(second).toEqual([8, 10]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('splits a turn into batches of at most maxBatch', async () => {
    const sizes: number[] = [];
    const echo = perTurn<number, number>(async (items) => {
      sizes.push(items.length);
      return items;
    }, 4);
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => echo(i)));
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('fails one item alone, or the whole batch when the run fails', async () => {
    const picky = perTurn<number, number>(async (items) => {
      if (items.includes(13)) throw new Error('unlucky batch');
      return items.map((n) => (n < 0 ? new Error(`negative ${n}`) : n));
    }, 10);
    const r = await Promise.allSettled([picky(1), picky(-1), picky(2)]);
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((r[1] as PromiseRejectedResult).reason.message).toBe('negative -1');
    const all = await Promise.allSettled([picky(5), picky(13)]);
    expect(all.every((x) => x.status === 'rejected' && x.reason.message === 'unlucky batch')).toBe(true);
    // a run that answers too few items fails the ones left over instead of leaving them pending
    const short = perTurn<number, number>(async (items) => items.slice(1), 10);
    const s = await Promise.allSettled([short(1), short(2)]);
    expect(s.map((x) => x.status)).toEqual(['fulfilled', 'rejected']);
    // a run that throws synchronously fails its batch too
    const sync = perTurn<number, number>(() => {
      throw new Error('sync');
    }, 10);
    await expect(sync(1)).rejects.toThrow('sync');
  });

  it('splits a turn by weight as well (one heavy call alone still goes)', async () => {
    const sizes: number[][] = [];
    const echo = perTurn<number, number>(
      async (items) => {
        sizes.push(items);
        return items;
      },
      100,
      { weigh: (n) => n, maxWeight: 10 },
    );
    await Promise.all([4, 5, 2, 30, 1, 9].map(echo));
    expect(sizes).toEqual([[4, 5], [2], [30], [1, 9]]);
  });

  it('runs work added at the end of a turn in that same pass, before the next turn', async () => {
    const order: string[] = [];
    atEndOfTurn(() => {
      order.push('flush');
      // what a batch flush does when its write corks a socket: asks for the uncork
      atEndOfTurn(() => order.push('uncork'));
    });
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        order.push('next immediate');
        resolve();
      }),
    );
    expect(order).toEqual(['flush', 'uncork', 'next immediate']);
  });

  it('fails a batch whose run answers no list, without leaving callers pending', async () => {
    const bad = perTurn<number, number>(async () => 'nonsense' as unknown as number[], 10);
    await expect(bad(1)).rejects.toThrow('no list');
  });
});
