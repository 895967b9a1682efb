import { describe, expect, it } from 'vitest';
import { KeyedBuckets, msClock, refill, TokenBucket } from './token-bucket.js';

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

describe('inline buckets (refill, msClock)', () => {
  it('refill counts thousandths of a token: a burst, then the rate, never above the burst', () => {
    let t = 1.7e12 + 0.25; // an epoch-ms clock with a fraction
    const clock = msClock(() => t);
    let milli = 20 * 1000;
    let at = clock();
    const take = () => {
      const now = clock();
      milli = refill(milli, now - at, 10, 20);
      at = now;
      if (milli < 1000) return false;
      milli -= 1000;
      return true;
    };
    let ok = 0;
    for (let i = 0; i < 50; i++) if (take()) ok++;
    expect(ok).toBe(20);
    t += 500;
    ok = 0;
    for (let i = 0; i < 50; i++) if (take()) ok++;
    expect(ok).toBe(5);
    // 0.1 s at 3/s is 0.3 of a token, kept: three such steps and a bit make one
    expect(refill(0, 100, 3, 20)).toBe(300);
    expect(refill(900, 100, 3, 20)).toBe(1200);
    expect(refill(500, 60_000, 10, 20)).toBe(20_000);
    // a clock that stepped back refills nothing
    expect(refill(500, -1000, 10, 20)).toBe(500);
    // whole ms, small integers
    expect(Number.isInteger(clock())).toBe(true);
    expect(clock()).toBe(500);
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
