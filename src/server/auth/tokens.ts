import { randomBytes, webcrypto } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { getAddress } from 'viem';

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
      const exp = iat + options.ttlSec;
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(getAddress(address))
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomBytes(12).toString('base64url'))
        .sign(key);
      return { token, expiresAt: exp * 1000 };
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
        return { address: checksummed(sub), expiresAt: (payload.exp ?? 0) * 1000 };
      } catch (error) {
        if (error instanceof joseErrors.JOSEError) return null;
        throw error;
      }
    },
  };
}

/**
 * issue() checksums the subject and the signature covers it, so a mixed-case subject is
 * taken as signed instead of derived again per connection (a keccak each, and an entry per
 * address in viem's checksum cache: with the derived string, ≈ 120 bytes of heap per
 * connection, measured). A one-case subject (a token minted elsewhere with the same secret)
 * is checksummed here: an address has one spelling everywhere.
 */
function checksummed(sub: string): `0x${string}` {
  const hex = sub.slice(2);
  const oneCase = hex === hex.toLowerCase() || hex === hex.toUpperCase();
  return oneCase ? getAddress(sub) : (sub as `0x${string}`);
}

/** A random secret for memory mode, where one process issues and verifies every token. */
export function ephemeralSecret(): string {
  return randomBytes(32).toString('base64url');
}
