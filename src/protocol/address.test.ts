import { randomBytes } from 'node:crypto';
import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { toChecksumAddress } from './address.js';
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
