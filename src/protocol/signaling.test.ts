import { describe, expect, it } from 'vitest';
import { parseSignalingFrame } from './signaling.js';

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
