import { describe, expect, it } from 'vitest';
import { KeyedBuckets, TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    let t = 0;
    const b = new TokenBucket(10, 20, () => t);
    let ok = 0;
    for (let i = 0; i < 50; i++) if (b.take()) ok++;
    expect(ok).toBe(20);
    t += 500; // half a second refills 5
    ok = 0;
    for (let i = 0; i < 50; i++) if (b.take()) ok++;
    expect(ok).toBe(5);
    t += 60_000; // never above the burst
    ok = 0;
    for (let i = 0; i < 50; i++) if (b.take()) ok++;
    expect(ok).toBe(20);
  });
});

describe('KeyedBuckets', () => {
  it('keeps keys apart and forgets the least recently used past its bound', () => {
    const t = 0;
    const k = new KeyedBuckets(1, 1, 2, () => t);
    expect(k.take('a')).toBe(true);
    expect(k.take('a')).toBe(false);
    expect(k.take('b')).toBe(true);
    expect(k.take('c')).toBe(true);
    expect(k.size).toBe(2);
    expect(k.take('a')).toBe(true); // 'a' was forgotten
  });
});
