import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMuxId, LANES, parseMuxId } from '../src/protocol/lanes.js';
import { laneEventInputSchema, publishBodySchema, receiptInputSchema } from '../src/protocol/lanes.schema.js';

const streamId = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.integer({ min: 0, max: 10_000 }))
  .map(([ms, seq]) => `${ms}-${seq}`);

describe('lanes protocol', () => {
  it('round-trips multiplexed ids for any subset of lanes', () => {
    fc.assert(
      fc.property(
        fc.subarray([...LANES], { minLength: 1 }),
        fc.array(streamId, { minLength: 3, maxLength: 3 }),
        (lanes, ids) => {
          const positions = Object.fromEntries(lanes.map((l, i) => [l, ids[i]!]));
          const id = formatMuxId(positions);
          expect(id).not.toMatch(/[\r\n\0]/);
          expect(parseMuxId(id)).toEqual(positions);
        },
      ),
    );
  });

  it('refuses malformed multiplexed ids', () => {
    for (const bad of ['', 'm:', 'x:1-0', 'm:1-0,m:2-0', 'm:1', 'm:1-0,', 'm=1-0', 'm:1-0\n']) {
      expect(parseMuxId(bad)).toBeUndefined();
    }
  });

  it('refuses any type or id containing CR, LF or NUL (they would inject SSE fields)', () => {
    const unsafe = fc
      .tuple(fc.string({ maxLength: 20 }), fc.constantFrom('\r', '\n', '\0'), fc.string({ maxLength: 20 }))
      .map(([a, c, b]) => a + c + b);
    fc.assert(
      fc.property(unsafe, (s) => {
        expect(laneEventInputSchema.safeParse({ type: s }).success).toBe(false);
        expect(laneEventInputSchema.safeParse({ type: 'ok', id: s }).success).toBe(false);
        expect(receiptInputSchema.safeParse({ type: s }).success).toBe(false);
        expect(receiptInputSchema.safeParse({ type: 'ok', id: s }).success).toBe(false);
      }),
    );
    expect(publishBodySchema.safeParse([{ type: 'a', data: { x: 1 } }, { type: 'b' }]).success).toBe(true);
    expect(publishBodySchema.safeParse([]).success).toBe(false);
    expect(laneEventInputSchema.safeParse({ type: 'ready' }).success).toBe(false);
    expect(laneEventInputSchema.safeParse({ type: 'x'.repeat(129) }).success).toBe(false);
  });
});
