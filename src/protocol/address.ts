/**
 * EIP-55 checksums computed directly from keccak, server-only (it imports viem's keccak).
 *
 * viem's getAddress keeps every address it checksums in a process-wide cache (8,192
 * entries): on a path taken per message, each new address is an entry that outlives the
 * young generation and dies later in the old one (an allocation-sampling profile of what
 * survived scavenges under direct-message load had it at ≈ 13 % of the bytes), and its
 * result is a tree of concatenations. This builds one flat string and keeps nothing.
 */
import { keccak256, stringToBytes } from 'viem';

/** `0x` + 40 hex digits in any case → the EIP-55 spelling (the caller checks the shape). */
export function toChecksumAddress(address: string): `0x${string}` {
  const lower = address.slice(2).toLowerCase();
  const hash = keccak256(stringToBytes(lower), 'bytes');
  const out = Buffer.from(`0x${lower}`, 'latin1');
  for (let i = 0; i < 40; i++) {
    const nibble = (hash[i >> 1]! >> (i % 2 === 0 ? 4 : 0)) & 0x0f;
    const c = out[i + 2]!;
    // a-f become A-F where the hash nibble is 8 or more; digits stay
    if (nibble >= 8 && c >= 0x61) out[i + 2] = c - 0x20;
  }
  return out.toString('latin1') as `0x${string}`;
}
