import type { ErrorResponse } from '../protocol/errors.js';
import { ClientError } from './errors.js';
import type { FetchLike } from './platform.js';

/**
 * Where a client gets its bearer token: a fixed string, a function (called before every
 * connection, so a refreshed token is used after a reconnect), or an auth session from
 * `createAuthSession`.
 */
export type TokenSource = string | (() => string | Promise<string>) | { getToken(): Promise<string> };

export async function resolveToken(source: TokenSource): Promise<string> {
  if (typeof source === 'string') return source;
  if (typeof source === 'function') return source();
  return source.getToken();
}

/** How many times a request refused with 429 is sent again, after the server's Retry-After. */
const RATE_LIMIT_RETRIES = 3;
/** A Retry-After longer than this (seconds) is not waited for: the 429 goes to the caller. */
const MAX_RETRY_AFTER_S = 10;

/** Retry-After in seconds: a number, or an HTTP date; 1 when absent or empty. */
function retryAfterSeconds(value: string | null): number {
  if (value === null || value.trim() === '') return 1;
  const n = Number(value);
  if (Number.isFinite(n)) return n;
  const at = Date.parse(value);
  return Number.isNaN(at) ? Number.NaN : Math.max(0, (at - Date.now()) / 1000);
}

/** Resolves after `ms`, or rejects with `aborted` when the signal fires first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ClientError('aborted', 'Request aborted'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ClientError('aborted', 'Request aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One JSON REST call. Errors become `ClientError`s with the protocol's code (or `network`
 * when no answer came back), so callers can tell "retry later" from "you are not allowed".
 * A 429 (the server did nothing) is sent again after its Retry-After (1 s when absent), up
 * to RATE_LIMIT_RETRIES times: many tabs or workers signing in from one IP at once pass the
 * per-IP limit of the auth routes instead of failing.
 */
export async function requestJson<T>(
  fetchFn: FetchLike,
  url: URL | string,
  init: { method?: string; token?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetchFn(String(url), {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers,
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (error) {
      if (init.signal?.aborted) throw new ClientError('aborted', 'Request aborted', { cause: error });
      throw new ClientError('network', `Request to ${String(url)} failed`, { cause: error });
    }
    if (res.status !== 429 || attempt >= RATE_LIMIT_RETRIES) break;
    const after = retryAfterSeconds(res.headers.get('retry-after'));
    if (!(after >= 0 && after <= MAX_RETRY_AFTER_S)) break;
    await res.body?.cancel().catch(() => {});
    // up to a fifth more, so clients refused together do not come back together
    await pause(after * 1000 * (1 + Math.random() / 5), init.signal);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const error = (body as ErrorResponse | undefined)?.error;
    if (error && typeof error.code === 'string') throw ClientError.from(error, res.status);
    throw new ClientError(res.status >= 500 ? 'unavailable' : 'bad_response', `HTTP ${res.status}`, {
      status: res.status,
    });
  }
  return body as T;
}

/** Calls `listener` with each refreshed token, when the source can tell (an auth session). */
export function onTokenRefresh(source: TokenSource, listener: (token: string) => void): () => void {
  if (typeof source === 'object' && 'on' in source && typeof source.on === 'function') {
    return (source as { on(t: 'token', l: (r: { token: string }) => void): () => void }).on('token', (r) =>
      listener(r.token),
    );
  }
  return () => {};
}
