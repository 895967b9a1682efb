/**
 * Error codes of the wire protocol (PROTOCOL.md). Every JSON error body is
 * `{ error: { code, message } }`; every WebSocket error frame is
 * `{ type: 'error', data: { code, message } }`.
 */
export const ErrorCode = {
  badRequest: 'bad_request',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  notFound: 'not_found',
  methodNotAllowed: 'method_not_allowed',
  payloadTooLarge: 'payload_too_large',
  serviceDisabled: 'service_disabled',
  rateLimited: 'rate_limited',
  authFailed: 'auth_failed',
  notAuthenticated: 'not_authenticated',
  notInRoom: 'not_in_room',
  unknownPeer: 'unknown_peer',
  roomFull: 'room_full',
  invalidRoom: 'invalid_room',
  nodeTaken: 'node_taken',
  tooManyConnections: 'too_many_connections',
  unavailable: 'unavailable',
  internal: 'internal_error',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  code: ErrorCode | (string & {});
  message: string;
}

/** The body of every failed REST call. */
export interface ErrorResponse {
  error: ErrorBody;
}

/** The error frame of every WebSocket surface. */
export interface ErrorFrame {
  type: 'error';
  data: ErrorBody;
}

/** The message PROTOCOL.md fixes for `rate_limited` (the seed's wording). */
export const RATE_LIMIT_MESSAGE = 'Rate limit exceeded';

/** An error that carries a protocol code. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
    this.code = code;
  }
}
