import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

/**
 * Reads a JSON body, refusing more than `limit` bytes with 413 (checked against
 * Content-Length before reading, and while reading for chunked bodies).
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json');
  }
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw tooLarge(limit);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'bad_request', 'A JSON body is required');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'bad_request', 'Body is not valid JSON');
  }
}

const tooLarge = (limit: number) =>
  new HttpError(413, 'payload_too_large', `Body larger than ${limit} bytes`, { Connection: 'close' });
