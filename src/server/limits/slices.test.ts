import { describe, expect, it } from 'vitest';
import { inSlices } from './slices.js';

/** Runs `inSlices` and returns how many items each event-loop turn handled. */
async function itemsPerTurn(
  count: number,
  size: number,
  budgetMs: number,
  work: () => void,
  spreadMs = 0,
): Promise<number[]> {
  let turn = 0;
  let ticking = true;
  const tick = () => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const seen: number[] = [];
  await inSlices(
    Array.from({ length: count }, (_, i) => i),
    size,
    () => {
      work();
      seen.push(turn);
    },
    { budgetMs, spreadMs },
  );
  ticking = false;
  const per = new Map<number, number>();
  for (const t of seen) per.set(t, (per.get(t) ?? 0) + 1);
  return [...per.values()];
}

describe('inSlices', () => {
  it('visits every item, at most `size` per turn', async () => {
    const per = await itemsPerTurn(100, 10, 60_000, () => {});
    expect(per.reduce((a, b) => a + b, 0)).toBe(100);
    expect(Math.max(...per)).toBeLessThanOrEqual(10);
    expect(per.length).toBeGreaterThanOrEqual(10);
  });

  it('yields once a slice has worked for its budget, whatever the count', async () => {
    // each item takes at least 0.25 ms: the clock, read every 16 items, ends each slice there
    const per = await itemsPerTurn(64, 1_000, 1, () => {
      const end = performance.now() + 0.25;
      while (performance.now() < end) {}
    });
    expect(per.reduce((a, b) => a + b, 0)).toBe(64);
    expect(Math.max(...per)).toBe(16);
  });

  it('paces its slices over spreadMs', async () => {
    const started = performance.now();
    const per = await itemsPerTurn(100, 10, 60_000, () => {}, 200);
    // ten slices with a pause after each of ≈ 20 ms: the walk takes about the spread, not a turn
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(Math.max(...per)).toBeLessThanOrEqual(10);
    expect(per.reduce((a, b) => a + b, 0)).toBe(100);
  });
});
