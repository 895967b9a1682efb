import { createSiweMessage } from 'viem/siwe';
import { AuthPaths, type NonceResponse, type TokenResponse } from '../protocol/auth.js';
import { createBackoffPolicy, type ReconnectPolicy } from './backoff.js';
import { createEmitter, type Events } from './emitter.js';
import { ClientError, isRetryable } from './errors.js';
import { requestJson } from './http.js';
import { type FetchLike, httpUrl, resolveFetch } from './platform.js';

/** A viem account (local or JSON-RPC) or anything that signs an EIP-191 personal message. */
export interface MessageSigner {
  address: string;
  signMessage(args: { message: string }): Promise<string>;
}

/** An EIP-1193 wallet, e.g. `window.ethereum`. */
export interface Eip1193Provider {
  request(args: { method: string; params?: readonly unknown[] }): Promise<unknown>;
}

export type Signer = MessageSigner | Eip1193Provider;

export interface SignInOptions {
  /** The server's base URL, e.g. `https://rt.example.com`. */
  url: string;
  signer: Signer;
  /** Which wallet account to use (EIP-1193). @default the first one the wallet returns */
  address?: string;
  /** SIWE `domain`: must equal the server's P3_SIWE_DOMAIN. @default location.host, else the server's host */
  domain?: string;
  /** SIWE `uri`. @default location.origin, else the server URL */
  uri?: string;
  /** @default the wallet's chain (`eth_chainId`), else 1 */
  chainId?: number;
  /** Human-readable line shown by the wallet. */
  statement?: string;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
}

const isProvider = (s: Signer): s is Eip1193Provider => typeof (s as Eip1193Provider).request === 'function';

function toHex(text: string): string {
  let hex = '0x';
  for (const b of new TextEncoder().encode(text)) hex += b.toString(16).padStart(2, '0');
  return hex;
}

async function signerAccount(options: SignInOptions): Promise<{ address: string; chainId: number }> {
  const { signer } = options;
  if (!isProvider(signer)) return { address: signer.address, chainId: options.chainId ?? 1 };
  let address = options.address;
  if (!address) {
    const accounts = (await signer.request({ method: 'eth_requestAccounts' })) as string[];
    address = accounts[0];
    if (!address) throw new ClientError('auth_failed', 'The wallet returned no account');
  }
  const chainId = options.chainId ?? Number(await signer.request({ method: 'eth_chainId' }).catch(() => 1));
  return { address, chainId: Number.isFinite(chainId) && chainId > 0 ? chainId : 1 };
}

/**
 * Sign-In with Ethereum: nonce → EIP-4361 message → `personal_sign` → bearer token.
 *
 * @example
 * // in a browser, with the user's wallet
 * const { token, address } = await signInWithEthereum({ url: 'https://rt.example.com', signer: window.ethereum });
 * // in Node, with a viem account
 * const session = await signInWithEthereum({ url, signer: privateKeyToAccount(key), domain: 'rt.example.com' });
 */
export async function signInWithEthereum(options: SignInOptions): Promise<TokenResponse> {
  const fetchFn = resolveFetch(options.fetch);
  const loc = (globalThis as { location?: { host: string; origin: string } }).location;
  const server = httpUrl(options.url, '/');
  const { address, chainId } = await signerAccount(options);
  const { nonce } = await requestJson<NonceResponse>(fetchFn, httpUrl(options.url, AuthPaths.nonce));
  const message = createSiweMessage({
    address: address as `0x${string}`,
    chainId,
    domain: options.domain ?? loc?.host ?? server.host,
    nonce,
    uri: options.uri ?? loc?.origin ?? server.origin,
    version: '1',
    issuedAt: new Date(),
    ...(options.statement ? { statement: options.statement } : {}),
  });
  const { signer } = options;
  let signature: string;
  try {
    signature = isProvider(signer)
      ? ((await signer.request({ method: 'personal_sign', params: [toHex(message), address] })) as string)
      : await signer.signMessage({ message });
  } catch (error) {
    throw new ClientError('auth_failed', 'The signer refused to sign', { cause: error });
  }
  return requestJson<TokenResponse>(fetchFn, httpUrl(options.url, AuthPaths.verify), {
    body: { message, signature },
  });
}

export interface AuthSessionOptions extends SignInOptions {
  /** Sign in again this long before the token expires. @default 300000 (5 minutes) */
  refreshBeforeMs?: number;
  /**
   * Refresh on a timer. With a browser wallet each refresh asks the user to sign: set
   * `false` to sign only when `getToken()` finds the token expiring. @default true
   */
  autoRefresh?: boolean;
  /** Retries of a failed refresh. @default createBackoffPolicy() */
  retryPolicy?: ReconnectPolicy;
  /** @default Date.now */
  now?: () => number;
}

export interface AuthSessionEvents {
  [key: string]: unknown;
  /** A new token (first sign-in and every refresh). */
  token: TokenResponse;
  error: ClientError;
}

/** A signed-in user: the token every other client takes (`token: session`). */
export interface AuthSession extends Events<AuthSessionEvents> {
  readonly token: string | undefined;
  readonly address: string | undefined;
  readonly expiresAt: number | undefined;
  /** Signs in now (again). Concurrent calls share one sign-in. */
  signIn(): Promise<TokenResponse>;
  /** A valid token: the current one, or a fresh one when it is missing or about to expire. */
  getToken(): Promise<string>;
  /** Stops refreshing. */
  close(): void;
}

/**
 * A sign-in that keeps itself fresh: signs in again `refreshBeforeMs` before expiry, with
 * retries, and hands the current token to every client that asks.
 *
 * @example
 * const auth = createAuthSession({ url, signer: window.ethereum });
 * await auth.signIn();
 * const chat = createMessagingClient({ url, token: auth });
 */
export function createAuthSession(options: AuthSessionOptions): AuthSession {
  const refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
  const autoRefresh = options.autoRefresh ?? true;
  const retry = options.retryPolicy ?? createBackoffPolicy();
  const now = options.now ?? Date.now;
  const events = createEmitter<AuthSessionEvents>();
  let current: TokenResponse | undefined;
  let inFlight: Promise<TokenResponse> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let failingSince = 0;
  let closed = false;

  const schedule = (delayMs: number) => {
    clearTimeout(timer);
    // setTimeout takes 32-bit delays: longer ones fire at once
    timer = setTimeout(refresh, Math.min(Math.max(0, delayMs), 2 ** 31 - 1));
  };

  function refresh() {
    session.signIn().catch(() => {
      // reported through the error event; the retry is scheduled by signIn
    });
  }

  const session: AuthSession = {
    on: events.on,
    once: events.once,
    off: events.off,
    get token() {
      return current?.token;
    },
    get address() {
      return current?.address;
    },
    get expiresAt() {
      return current?.expiresAt;
    },
    signIn() {
      if (closed) return Promise.reject(new ClientError('closed', 'The auth session is closed'));
      inFlight ??= signInWithEthereum(options)
        .then((t) => {
          current = t;
          failures = 0;
          events.emit('token', t);
          if (autoRefresh && !closed) schedule(t.expiresAt - refreshBeforeMs - now());
          return t;
        })
        .catch((error: unknown) => {
          const e =
            error instanceof ClientError
              ? error
              : new ClientError('auth_failed', 'Sign-in failed', { cause: error });
          if (failures === 0) failingSince = now();
          events.emit('error', e);
          // keep trying in the background only while the old token is still good
          if (autoRefresh && !closed && current && isRetryable(e)) {
            const delay = retry.nextRetryDelayInMs({ retryCount: failures, elapsedMs: now() - failingSince });
            if (delay !== null) schedule(delay);
          }
          failures++;
          throw e;
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
    async getToken() {
      if (current && current.expiresAt - now() > Math.min(refreshBeforeMs, 60_000)) return current.token;
      return (await session.signIn()).token;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      events.removeAll();
    },
  };
  return session;
}
