import { createHmac } from 'node:crypto';

export interface TurnCredentials {
  username: string;
  credential: string;
  /** ms since the epoch */
  expiresAt: number;
}

/**
 * Ephemeral TURN credentials as coturn's `use-auth-secret` (the "TURN REST API" draft)
 * checks them: `username = "<expiry unix seconds>:<user>"`, `credential =
 * base64(HMAC-SHA1(secret, username))`. coturn recomputes the HMAC with the shared secret
 * and refuses the username once its expiry has passed, so nothing is stored anywhere.
 *
 * @example
 * turnCredentials('s3cret', '0xAbC…', 3600); // { username: '1767225600:0xAbC…', credential: 'k1…=', expiresAt }
 */
export function turnCredentials(
  secret: string,
  user: string,
  ttlSec: number,
  now: () => number = Date.now,
): TurnCredentials {
  const expiry = Math.floor(now() / 1000) + ttlSec;
  const username = `${expiry}:${user}`;
  return { username, credential: turnPassword(secret, username), expiresAt: expiry * 1000 };
}

/** The password coturn derives for `username` from the shared secret. */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}
