import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidRoomId } from './signaling.js';
import { parseSignalingFrame, relayFastPath, SignalingClientFrameSchema } from './signaling.schema.js';

describe('parseSignalingFrame on hostile values', () => {
  it.each([
    ['an object type whose toString is not callable', { type: { toString: '!f' } }],
    ['null', null],
    ['a number', 42],
    ['an array type', { type: ['join'] }],
  ])('answers bad_request, never throws: %s', (_what, raw) => {
    const r = parseSignalingFrame(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('bad_request');
  });
});

describe('the relay fast path', () => {
  const roomIds = fc.oneof(fc.constantFrom('r1', 'room:1', 'bad room', ''), fc.string({ maxLength: 4 }));
  const maybe = <T>(a: fc.Arbitrary<T>) =>
    fc.oneof(a, fc.constant(undefined), fc.constant(null), fc.integer(), fc.string({ maxLength: 3 }));
  const frames = fc.record(
    {
      type: fc.constantFrom('ice', 'offer', 'answer', 'join', 'stats', 7),
      roomId: maybe(roomIds),
      to: maybe(fc.string({ minLength: 0, maxLength: 70 })),
      extra: fc.anything(),
      data: maybe(
        fc.record(
          {
            type: maybe(fc.constantFrom('offer', 'answer', 'pranswer', 'rollback', 'nope')),
            sdp: maybe(fc.string({ maxLength: 5 })),
            candidate: maybe(fc.string({ maxLength: 5 })),
            sdpMid: maybe(fc.string({ maxLength: 2 })),
            sdpMLineIndex: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.double(), fc.constant(null)),
            usernameFragment: maybe(fc.string({ maxLength: 3 })),
            more: fc.anything(),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  );

  it('leaves a description with an own "__proto__" key to the schema (which drops the key)', () => {
    const raw = JSON.parse(
      '{"type":"offer","roomId":"r","data":{"type":"offer","sdp":"x","__proto__":{"a":1}}}',
    );
    expect(relayFastPath(raw)).toBeUndefined();
    const r = parseSignalingFrame(raw);
    expect(r.ok).toBe(true);
    if (r.ok) expect(Object.hasOwn((r.frame as { data: object }).data, '__proto__')).toBe(false);
  });

  it('accepts only what the schema accepts, with the same frame', () => {
    fc.assert(
      fc.property(frames, (raw) => {
        const fast = relayFastPath(raw);
        const schema = SignalingClientFrameSchema.safeParse(raw);
        const valid = schema.success && isValidRoomId((schema.data as { roomId: string }).roomId);
        if (fast) {
          expect(valid).toBe(true);
          expect(fast).toEqual(schema.data);
        } else if (valid && ['ice', 'offer', 'answer'].includes(raw.type as string)) {
          // every valid relay takes the fast path
          expect.unreachable(`a valid relay missed the fast path: ${JSON.stringify(raw)}`);
        }
      }),
      { numRuns: 20_000 },
    );
  });
});
