import { describe, expect, it } from 'vitest';
import { createMemoryEngine } from '../engine/memory.js';
import type { Engine } from '../engine/types.js';
import { createLaneHistory } from './history.js';

/** The memory engine, with stream appends failing while `down` is set (Redis going away mid-publish). */
function flakyEngine() {
  const base = createMemoryEngine();
  const state = { down: false };
  const fail = () => Promise.reject(new Error('Connection is closed.'));
  const engine: Engine = new Proxy(base, {
    get(target, prop, receiver) {
      if (state.down && (prop === 'streamAppend' || prop === 'streamAppendOnce')) return fail;
      return Reflect.get(target, prop, receiver);
    },
  });
  return { engine, state };
}

describe('lane history', () => {
  it('stores a retried batch whose first append failed: the retry is no duplicate', async () => {
    const { engine, state } = flakyEngine();
    const history = createLaneHistory({
      engine,
      maxLen: 1000,
      ttlMs: 60_000,
      maxEventBytes: 64 * 1024,
      now: Date.now,
      onNotifyError: () => {},
    });
    const batch = [0, 1, 2].map((n) => ({ type: 'update', id: `ev-${n}`, data: { n } }));
    state.down = true;
    await expect(history.append('s1', 'catalog', batch)).rejects.toThrow();
    state.down = false;
    const retried = await history.append('s1', 'catalog', batch);
    expect(retried.duplicates).toBe(0);
    expect(retried.ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
    expect((await history.range('s1', 'catalog', '0-0')).map((e) => JSON.parse(e.json))).toEqual([
      { n: 0 },
      { n: 1 },
      { n: 2 },
    ]);
    // and a real duplicate still is one
    const again = await history.append('s1', 'catalog', batch);
    expect(again).toEqual({ ids: retried.ids, duplicates: 3 });
  });
});
