import { randomBytes } from 'node:crypto';
import { getAddress, isAddress, recoverMessageAddress } from 'viem';
import { parseSiweMessage } from 'viem/siwe';
import { ISSUED_AT_MAX_SKEW_MS, NONCE_TTL_MS } from '../../protocol/auth.js';
import type { Engine } from '../engine/types.js';

/** Why a sign-in was refused; the message is safe to show to the client. */
export class SiweError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'SiweError';
    this.reason = reason;
  }
}

// secp256k1 group order; a signature with s > n/2 is the malleable high-s twin (EIP-2)
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = SECP256K1_N / 2n;
const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const MAX_MESSAGE_LENGTH = 8192;

const nonceKey = (nonce: string) => `siwe:nonce:${nonce}`;

export interface SiweVerifier {
  /** Issues a nonce that any node accepts once within 5 minutes. */
  issueNonce(): Promise<{ nonce: string; expiresAt: number }>;
  /** Verifies a signed SIWE message and consumes its nonce; returns the checksummed address. */
  verify(message: unknown, signature: unknown): Promise<`0x${string}`>;
}

export function createSiweVerifier(options: {
  engine: Engine;
  domain: string;
  now?: () => number;
}): SiweVerifier {
  const { engine, domain } = options;
  const now = options.now ?? Date.now;
  return {
    async issueNonce() {
      // 24 characters from a 62-symbol alphabet: ~143 bits; rejection sampling keeps it uniform
      let nonce = '';
      while (nonce.length < 24) {
        for (const b of randomBytes(32)) {
          if (b < 248 && nonce.length < 24) nonce += NONCE_ALPHABET[b % 62];
        }
      }
      const expiresAt = now() + NONCE_TTL_MS;
      await engine.set(nonceKey(nonce), String(expiresAt), NONCE_TTL_MS);
      return { nonce, expiresAt };
    },

    async verify(message, signature) {
      if (typeof message !== 'string' || message.length === 0 || message.length > MAX_MESSAGE_LENGTH) {
        throw new SiweError('malformed', 'message must be an EIP-4361 string');
      }
      if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) {
        throw new SiweError('malformed', 'signature must be 65 bytes of 0x-prefixed hex');
      }
      let parsed: ReturnType<typeof parseSiweMessage>;
      try {
        parsed = parseSiweMessage(message);
      } catch {
        throw new SiweError('malformed', 'message is not an EIP-4361 message');
      }
      const { address, nonce, uri, version, chainId } = parsed;
      if (
        !address ||
        !isAddress(address, { strict: false }) ||
        !nonce ||
        !uri ||
        version !== '1' ||
        !chainId
      ) {
        throw new SiweError('malformed', 'message is not an EIP-4361 message');
      }
      if (!message.includes(' wants you to sign in with your Ethereum account:\n')) {
        throw new SiweError('malformed', 'message is not an EIP-4361 message');
      }
      if (parsed.domain !== domain) throw new SiweError('domain', `domain must be ${domain}`);
      const t = now();
      if (parsed.expirationTime && parsed.expirationTime.getTime() <= t) {
        throw new SiweError('expired', 'message has expired');
      }
      if (parsed.notBefore && parsed.notBefore.getTime() > t) {
        throw new SiweError('not_yet_valid', 'message is not valid yet (notBefore)');
      }
      if (!parsed.issuedAt || Number.isNaN(parsed.issuedAt.getTime())) {
        throw new SiweError('malformed', 'message has no valid issuedAt');
      }
      if (parsed.issuedAt.getTime() > t + ISSUED_AT_MAX_SKEW_MS) {
        throw new SiweError('issued_in_future', 'issuedAt is in the future');
      }
      const s = BigInt(`0x${signature.slice(66, 130)}`);
      const v = Number.parseInt(signature.slice(130, 132), 16);
      if (s === 0n || s > HALF_N)
        throw new SiweError('high_s', 'signature s value must be in the lower half (EIP-2)');
      if (![0, 1, 27, 28].includes(v))
        throw new SiweError('malformed', 'signature recovery id must be 27 or 28');
      if ((await engine.get(nonceKey(nonce))) === null) {
        throw new SiweError('nonce', 'nonce unknown, expired or already used');
      }
      let recovered: string;
      try {
        recovered = await recoverMessageAddress({ message, signature: signature as `0x${string}` });
      } catch {
        throw new SiweError('signature', 'signature does not verify');
      }
      if (recovered.toLowerCase() !== address.toLowerCase()) {
        throw new SiweError('signature', 'signature does not match the message address');
      }
      // consumed last and atomically: of two concurrent sign-ins with one nonce, one wins
      if ((await engine.take(nonceKey(nonce))) === null) {
        throw new SiweError('nonce', 'nonce unknown, expired or already used');
      }
      return getAddress(address);
    },
  };
}
