import type { ErrorBody } from '../protocol/errors.js';

/**
 * Why a client operation failed. `code` is a protocol error code (PROTOCOL.md: `unauthorized`,
 * `rate_limited`, `room_full`, …) or one of the client's own: `network` (no answer),
 * `timeout`, `closed` (the client was closed), `aborted`.
 *
 * @example
 * try {
 *   await signaling.join('room-1');
 * } catch (e) {
 *   if (e instanceof ClientError && e.code === 'room_full') showFull();
 * }
 */
export class ClientError extends Error {
  readonly code: string;
  /** HTTP status, when the error came from a REST call. */
  readonly status: number | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.code = code;
    this.status = options?.status;
  }

  /** From a protocol error body (`{ code, message }`). */
  static from(body: ErrorBody, status?: number): ClientError {
    return new ClientError(body.code, body.message, status === undefined ? undefined : { status });
  }
}

/**
 * True when retrying the same request later could succeed (network trouble, overload).
 *
 * @example
 * if (!isRetryable(error)) throw error;
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof ClientError)) return true;
  if (error.code === 'network' || error.code === 'timeout' || error.code === 'rate_limited') return true;
  return error.status !== undefined && error.status >= 500;
}
