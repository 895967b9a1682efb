/** §1 Identity: Sign-In with Ethereum. */

export interface NonceResponse {
  nonce: string;
  /** ms since the epoch */
  expiresAt: number;
}

export interface VerifyRequest {
  /** EIP-4361 message text */
  message: string;
  /** 0x-prefixed 65-byte personal_sign signature */
  signature: string;
}

export interface TokenResponse {
  token: string;
  /** EIP-55 checksummed address */
  address: string;
  /** ms since the epoch */
  expiresAt: number;
}

export const AuthPaths = {
  nonce: '/v1/auth/nonce',
  verify: '/v1/auth/verify',
} as const;

/** Lifetime of a SIWE nonce. */
export const NONCE_TTL_MS = 5 * 60_000;
/** How far in the future `issuedAt` may be (clock skew allowance). */
export const ISSUED_AT_MAX_SKEW_MS = 5 * 60_000;
