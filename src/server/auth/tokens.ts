import { randomBytes, webcrypto } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { getAddress } from 'viem';
import { toChecksumAddress } from '../../protocol/address.js';

/** Who a verified token says the caller is. Identity comes only from here. */
export interface Identity {
  /** EIP-55 checksummed */
  address: `0x${string}`;
  /** ms since the epoch */
  expiresAt: number;
}

const ISSUER = 'p3-realtime';
const AUDIENCE = 'p3-realtime:user';

/**
 * Bearer tokens: HS256 JWTs signed with P3_AUTH_SECRET, so every node verifies them
 * without a shared store.
 */
export interface TokenService {
  issue(address: string): Promise<{ token: string; expiresAt: number }>;
  /** The identity of a valid token, or null (expired, forged, malformed). */
  verify(token: string): Promise<Identity | null>;
}

export function createTokenService(options: {
  secret: string;
  ttlSec: number;
  now?: () => number;
}): TokenService {
  const key = new TextEncoder().encode(options.secret);
  // imported once: jose would import raw key bytes again on every verification (≈ 1/3 of its cost)
  const verifyKey = webcrypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'verify',
  ]);
  // a failure surfaces on the first verify, not as an unhandled rejection at start-up
  verifyKey.catch(() => {});
  const now = options.now ?? Date.now;
  return {
    async issue(address) {
      const iat = Math.floor(now() / 1000);
      const token = await signToken(key, getAddress(address), iat, options.ttlSec);
      return { token, expiresAt: (iat + options.ttlSec) * 1000 };
    },
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return null;
      try {
        const { payload } = await jwtVerify(token, await verifyKey, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: new Date(now()),
          requiredClaims: ['sub', 'exp'],
        });
        const sub = payload.sub ?? '';
        if (!/^0x[0-9a-fA-F]{40}$/.test(sub)) return null;
        const address = checksummed(sub);
        if (!address) return null;
        return { address, expiresAt: (payload.exp ?? 0) * 1000 };
      } catch (error) {
        if (error instanceof joseErrors.JOSEError) return null;
        throw error;
      }
    },
  };
}

/**
 * Signs a bearer token for `subject` exactly as given (issue() checksums it first), issued
 * at `iat` (s) for `ttlSec`. Exported for tests that mint tokens as another holder of the
 * secret would (a raw subject, a lifetime below P3_TOKEN_TTL's minimum).
 */
export function signToken(
  secret: string | Uint8Array,
  subject: string,
  iat: number,
  ttlSec: number,
): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSec)
    .setJti(randomBytes(12).toString('base64url'))
    .sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);
}

/**
 * The address a token names, in its one spelling (EIP-55), or null. issue() checksums the
 * subject; a token minted elsewhere with the same secret may spell it in one case, and is
 * checksummed here. A mixed-case subject must be its own checksum: anything else would
 * give one account several spellings, and every per-address key (inbox, presence, limits)
 * one entry per spelling. Checksummed by toChecksumAddress (no cache: see address.ts;
 * viem's kept ≈ 120 bytes per connection, measured), and a token's own spelling is kept.
 */
function checksummed(sub: string): `0x${string}` | null {
  const out = toChecksumAddress(sub);
  const hex = sub.slice(2);
  const oneCase = hex === hex.toLowerCase() || hex === hex.toUpperCase();
  if (oneCase) return out;
  return out === sub ? (sub as `0x${string}`) : null;
}

/** A random secret for memory mode, where one process issues and verifies every token. */
export function ephemeralSecret(): string {
  return randomBytes(32).toString('base64url');
}
