import { randomBytes } from 'node:crypto';
import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { CHECKSUM_GENERATION, checksumAddress, checksumCacheStats, toChecksumAddress } from './address.js';
import { AddressSchema } from './messaging.schema.js';

describe('toChecksumAddress', () => {
  it('spells every address as viem does, whatever case it came in', () => {
    for (let i = 0; i < 300; i++) {
      const lower = `0x${randomBytes(20).toString('hex')}`;
      const expected = getAddress(lower);
      expect(toChecksumAddress(lower)).toBe(expected);
      expect(toChecksumAddress(`0x${lower.slice(2).toUpperCase()}`)).toBe(expected);
      expect(toChecksumAddress(expected)).toBe(expected);
    }
    // digits only: nothing to capitalise
    expect(toChecksumAddress(`0x${'1'.repeat(40)}`)).toBe(getAddress(`0x${'1'.repeat(40)}`));
  });

  it('is what the messaging schema makes of an address', () => {
    const lower = `0x${randomBytes(20).toString('hex')}`;
    expect(AddressSchema.parse(lower)).toBe(getAddress(lower));
    expect(AddressSchema.safeParse('0x123').success).toBe(false);
  });
});

describe('checksumAddress', () => {
  const random = () => `0x${randomBytes(20).toString('hex')}`;

  it('gives what toChecksumAddress gives, for every spelling, computing each address once', () => {
    const lower = random();
    const expected = getAddress(lower);
    const before = checksumCacheStats().computed;
    expect(checksumAddress(lower)).toBe(expected);
    expect(checksumAddress(lower)).toBe(expected);
    expect(checksumAddress(expected)).toBe(expected);
    expect(checksumAddress(`0x${lower.slice(2).toUpperCase()}`)).toBe(expected);
    // one spelling, one computation: the second lowercase lookup was a hit
    expect(checksumCacheStats().computed - before).toBe(3);
  });

  it('holds at most two generations, and an address in use stays through them', () => {
    const hot = random();
    checksumAddress(hot);
    const before = checksumCacheStats().computed;
    for (let i = 0; i < 3 * CHECKSUM_GENERATION; i++) {
      const a = random();
      expect(checksumAddress(a)).toBe(toChecksumAddress(a));
      // used once per generation: moved to the young one each time, never computed again
      if (i % 1_000 === 0) expect(checksumAddress(hot)).toBe(getAddress(hot));
      expect(checksumCacheStats().entries).toBeLessThanOrEqual(2 * CHECKSUM_GENERATION);
    }
    expect(checksumCacheStats().computed - before).toBe(3 * CHECKSUM_GENERATION);
    // an address not used for two generations is gone: computed again
    const cold = random();
    checksumAddress(cold);
    for (let i = 0; i < 2 * CHECKSUM_GENERATION; i++) checksumAddress(random());
    const n = checksumCacheStats().computed;
    checksumAddress(cold);
    expect(checksumCacheStats().computed).toBe(n + 1);
  });

  it('moves an address found in the old generation instead of holding it twice', () => {
    const a = random();
    checksumAddress(a);
    // a full young generation later, `a` is in the old one
    for (let i = 0; i < CHECKSUM_GENERATION; i++) checksumAddress(random());
    const { entries, computed } = checksumCacheStats();
    expect(checksumAddress(a)).toBe(getAddress(a));
    // not computed again, and one entry for it, not a second one in the young generation
    expect(checksumCacheStats().computed).toBe(computed);
    expect(checksumCacheStats().entries).toBeLessThanOrEqual(entries);
  });

  it('refuses what is not an address, and caches nothing for it', () => {
    const before = checksumCacheStats();
    for (const bad of ['0x123', `0x${'g'.repeat(40)}`, `0x${'a'.repeat(39)}š`, `${'a'.repeat(42)}`]) {
      expect(() => checksumAddress(bad)).toThrow(TypeError);
    }
    expect(checksumCacheStats()).toEqual(before);
  });
});
