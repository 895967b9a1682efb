import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { createTokenService, signToken } from './tokens.js';

const secret = 'tokens-test-secret-0123456789-abcdefgh';
const lower = '0x52908400098527886e0f7030069857d2e4169ee7';
const checksum = getAddress(lower);

/** A token minted outside issue() with the same secret, subject spelled as given. */
const minted = (sub: string) => signToken(secret, sub, Math.floor(Date.now() / 1000), 60);

describe('token subject', () => {
  const tokens = createTokenService({ secret, ttlSec: 60 });

  it('gives the checksummed address for an issued token, whatever spelling was issued', async () => {
    for (const spelling of [lower, checksum, `0x${lower.slice(2).toUpperCase()}`]) {
      const { token } = await tokens.issue(spelling);
      expect((await tokens.verify(token))?.address).toBe(checksum);
    }
  });

  it('checksums a one-case subject minted elsewhere with the same secret', async () => {
    expect((await tokens.verify(await minted(lower)))?.address).toBe(checksum);
    expect((await tokens.verify(await minted(`0x${lower.slice(2).toUpperCase()}`)))?.address).toBe(checksum);
  });

  it('takes a checksummed subject as it is, and refuses a mixed case that is not the checksum', async () => {
    expect((await tokens.verify(await minted(checksum)))?.address).toBe(checksum);
    // one letter's case flipped: another spelling of the same account, not an identity
    const i = [...checksum].findIndex((c, k) => k > 1 && /[a-fA-F]/.test(c));
    const c = checksum[i]!;
    const flipped = `${checksum.slice(0, i)}${c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()}${checksum.slice(i + 1)}`;
    expect(flipped.toLowerCase()).toBe(lower);
    expect(await tokens.verify(await minted(flipped))).toBeNull();
    // the checksum agrees with viem's for random addresses
    for (let k = 0; k < 20; k++) {
      const random = `0x${[...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
      expect((await tokens.verify(await minted(random)))?.address).toBe(getAddress(random));
    }
  });

  it('refuses a subject that is not an address', async () => {
    for (const sub of ['0x1234', `${lower}00`, 'alice', `0x${'g'.repeat(40)}`]) {
      expect(await tokens.verify(await minted(sub))).toBeNull();
    }
  });
});
