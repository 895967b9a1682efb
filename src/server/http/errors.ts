import type { ServerResponse } from 'node:http';
import { ErrorCode, type ErrorResponse } from '../../protocol/errors.js';

/** An error that becomes a JSON error response `{ error: { code, message } }`. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (message: string) => new HttpError(400, ErrorCode.badRequest, message);
export const unauthorized = (message = 'A valid bearer token is required') =>
  new HttpError(401, ErrorCode.unauthorized, message, { 'WWW-Authenticate': 'Bearer' });
export const forbidden = (message = 'Not allowed') => new HttpError(403, ErrorCode.forbidden, message);
export const notFound = (message = 'Not found') => new HttpError(404, ErrorCode.notFound, message);

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError) {
  const body: ErrorResponse = { error: { code: error.code, message: error.message } };
  sendJson(res, error.status, body, error.headers);
}
