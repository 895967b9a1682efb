import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that must never reach a log line, whatever a caller passes. Surfaces also
 * avoid logging such values in the first place; this is the second line of defence.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'signature',
  '*.signature',
  'secret',
  '*.secret',
  'credential',
  '*.credential',
  'key',
  '*.key',
  'keys',
  '*.keys',
  'serviceKey',
  'authSecret',
  'turnSecret',
  'turnCredential',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination as pino.DestinationStream | undefined,
  );
}

/** Removes credentials from a URL before it is logged (`?token=…`). */
export function safeUrl(url: string | undefined): string {
  if (!url) return '';
  return url.replace(/([?&](?:token|key|signature|access_token)=)[^&]*/gi, '$1[redacted]');
}
