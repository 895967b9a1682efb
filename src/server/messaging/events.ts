import type { z } from 'zod';
import { ErrorCode, RATE_LIMIT_MESSAGE } from '../../protocol/errors.js';
import {
  type Ack,
  type AckError,
  type ClientToServerEvents,
  parsePayload,
} from '../../protocol/messaging.js';
import { TokenBucket } from '../limits/token-bucket.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { MsgSocket } from './transport.js';

type Reply = (answer: Ack) => void;
export type EventName = keyof ClientToServerEvents;

/**
 * The edge of the messaging surface: every client event goes through here. It counts
 * the event, applies the per-socket rate limit, validates the payload with the
 * protocol's schema, runs the handler and answers: through the ack callback when the
 * client passed one, else (errors only) with an `error` event. Handlers never throw
 * into Socket.IO; an unexpected failure becomes `internal_error`.
 */
export function createEventEdge(deps: {
  metrics: Metrics;
  logger: Logger;
  rateLimit: number;
  rateBurst: number;
  now: () => number;
  known: readonly EventName[];
}) {
  const events = deps.metrics.counter('p3_messaging_events_total', 'Client events received', ['event']);
  const errors = deps.metrics.counter('p3_messaging_errors_total', 'Client events answered with an error', [
    'code',
  ]);
  const known = new Set<string>(deps.known);

  const fail = (socket: MsgSocket, reply: Reply | undefined, answer: AckError) => {
    errors.inc({ code: answer.error.code });
    if (reply) reply(answer);
    else socket.emit('error', answer.error);
  };

  return {
    /** Rate limit and unknown-event answer; call once per socket before registering handlers. */
    guard(socket: MsgSocket) {
      const bucket = new TokenBucket(deps.rateLimit, deps.rateBurst, deps.now);
      socket.use(([event, ...args], next) => {
        const last = args[args.length - 1];
        const reply = typeof last === 'function' ? (last as Reply) : undefined;
        if (!bucket.take()) {
          fail(socket, reply, {
            ok: false,
            error: { code: ErrorCode.rateLimited, message: RATE_LIMIT_MESSAGE },
          });
          return;
        }
        if (!known.has(event)) {
          fail(socket, reply, {
            ok: false,
            error: { code: ErrorCode.badRequest, message: `Unknown event ${String(event).slice(0, 64)}` },
          });
          return;
        }
        events.inc({ event });
        next();
      });
    },
    /** Registers `handler` for `event` with validation by `schema`. */
    on<S extends z.ZodType>(
      socket: MsgSocket,
      event: EventName,
      schema: S,
      handler: (data: z.output<S>) => Promise<Ack | undefined> | Ack | undefined,
    ) {
      (socket as unknown as { on(e: string, l: (p: unknown, a: unknown) => void): void }).on(
        event,
        (payload, ack) => {
          const reply = typeof ack === 'function' ? (ack as Reply) : undefined;
          const parsed = parsePayload(schema, payload);
          if (!parsed.ok) {
            fail(socket, reply, parsed);
            return;
          }
          Promise.resolve()
            .then(() => handler(parsed.data))
            .then(
              (answer) => {
                if (answer && !answer.ok) fail(socket, reply, answer);
                else reply?.(answer ?? { ok: true });
              },
              (error) => {
                deps.logger.error({ err: error, event }, 'messaging handler failed');
                fail(socket, reply, {
                  ok: false,
                  error: { code: ErrorCode.internal, message: 'The server could not process this event' },
                });
              },
            );
        },
      );
    },
  };
}

export type EventEdge = ReturnType<typeof createEventEdge>;
