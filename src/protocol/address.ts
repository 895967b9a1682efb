/**
 * EIP-55 checksums computed directly from keccak, server-only (it imports viem's keccak).
 *
 * viem's getAddress keeps every address it checksums in a process-wide LRU cache (8,192
 * entries) that deletes and re-inserts an entry on every hit: on a path taken per message,
 * each hit is a new Map entry that outlives the young generation and dies later in the old
 * one (an allocation-sampling profile of what survived scavenges under direct-message load
 * had it at ≈ 13 % of the bytes), and its result is a tree of concatenations.
 * toChecksumAddress builds one flat string and keeps nothing; checksumAddress adds a cache
 * whose hits in its young generation allocate nothing.
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

/**
 * Addresses kept by checksumAddress, in two generations of this many each: a hit in the
 * young one is one Map lookup; a hit in the old one moves the address to the young one;
 * when the young one is full it becomes the old one and the old one is dropped. So at most
 * twice this many (≈ 150 B each), and an address in use stays. A miss costs keccak anyway,
 * so a node that sees more addresses than this between turnovers (or a client naming many
 * in presence subscriptions) pays little more than without a cache.
 */
export const CHECKSUM_GENERATION = 8_192;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
let young = new Map<string, `0x${string}`>();
let old = new Map<string, `0x${string}`>();
let computed = 0;

/**
 * toChecksumAddress, remembered: keccak in JavaScript costs 12-18 µs here, once per
 * message for a recipient (10 % of a messaging node's busy time under load, profiled),
 * and a node sees the same addresses again and again. Throws a TypeError for anything
 * but `0x` and 40 hex digits (checked on a miss: what is cached was checked).
 */
export function checksumAddress(address: string): `0x${string}` {
  const hit = young.get(address);
  if (hit !== undefined) return hit;
  let out = old.get(address);
  if (out !== undefined) old.delete(address);
  else {
    if (!ADDRESS.test(address)) throw new TypeError('not a 0x-prefixed 20-byte hex address');
    out = toChecksumAddress(address);
    computed++;
  }
  if (young.size >= CHECKSUM_GENERATION) {
    old = young;
    young = new Map();
  }
  // the key is a copy (ASCII, checked above): `address` may be a slice that holds a whole
  // frame's text alive
  young.set(out === address ? out : Buffer.from(address, 'latin1').toString('latin1'), out);
  return out;
}

/** What checksumAddress holds and how many checksums it has computed (for metrics). */
export function checksumCacheStats(): { entries: number; computed: number } {
  return { entries: young.size + old.size, computed };
}
