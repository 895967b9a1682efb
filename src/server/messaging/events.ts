import type { Event } from 'socket.io';
import type { z } from 'zod';
import { ErrorCode, RATE_LIMIT_MESSAGE } from '../../protocol/errors.js';
import type { Ack, AckError, ClientToServerEvents } from '../../protocol/messaging.js';
import { parsePayload } from '../../protocol/messaging.schema.js';
import { msClock, refill } from '../limits/token-bucket.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { MsgSocket } from './transport.js';

type Reply = (answer: Ack) => void;
export type EventName = keyof ClientToServerEvents;

/** One client event: its payload schema and what it does (with the socket it came from). */
export interface Route<S extends z.ZodType = z.ZodType> {
  schema: S;
  handle(socket: MsgSocket, data: z.output<S>): Promise<Ack | undefined> | Ack | undefined;
}

/** Declares a route with its payload type inferred from the schema. */
export const route = <S extends z.ZodType>(
  schema: S,
  handle: (socket: MsgSocket, data: z.output<S>) => Promise<Ack | undefined> | Ack | undefined,
): Route => ({ schema, handle: handle as Route['handle'] });

/**
 * The edge of the messaging surface: every client event goes through here. It counts
 * the event, applies the per-socket rate limit, validates the payload with the
 * protocol's schema, runs the route and answers: through the ack callback when the
 * client passed one, else (errors only) with an `error` event. Routes never throw
 * into Socket.IO; an unexpected failure becomes `internal_error`.
 *
 * The table is built once; each socket gets one middleware that dispatches from it (no
 * listener per event per socket: an idle connection costs one closure, not two dozen).
 */
export function createEventEdge(deps: {
  metrics: Metrics;
  logger: Logger;
  rateLimit: number;
  rateBurst: number;
  now: () => number;
  routes: Record<EventName, Route>;
}) {
  const events = deps.metrics.tally('p3_messaging_events_total', 'Client events received', ['event']);
  const byEvent = new Map(
    Object.entries(deps.routes).map(([event, r]) => [event, { ...r, count: events.labels({ event }) }]),
  );
  const errors = deps.metrics.counter('p3_messaging_errors_total', 'Client events answered with an error', [
    'code',
  ]);
  const clock = msClock(deps.now);
  const internal: AckError = {
    ok: false,
    error: { code: ErrorCode.internal, message: 'The server could not process this event' },
  };

  const fail = (socket: MsgSocket, reply: Reply | undefined, answer: AckError) => {
    errors.inc({ code: answer.error.code });
    if (reply) reply(answer);
    else socket.emit('error', answer.error);
  };

  function dispatch(socket: MsgSocket, event: string, args: unknown[]) {
    const last = args[args.length - 1];
    const reply = typeof last === 'function' ? (last as Reply) : undefined;
    const r = byEvent.get(event);
    if (!r) {
      fail(socket, reply, {
        ok: false,
        error: { code: ErrorCode.badRequest, message: `Unknown event ${String(event).slice(0, 64)}` },
      });
      return;
    }
    r.count.inc();
    const parsed = parsePayload(r.schema, args[0]);
    if (!parsed.ok) {
      fail(socket, reply, parsed);
      return;
    }
    let answer: ReturnType<Route['handle']>;
    try {
      answer = r.handle(socket, parsed.data);
    } catch (error) {
      deps.logger.error({ err: error, event }, 'messaging handler failed');
      fail(socket, reply, internal);
      return;
    }
    if (answer instanceof Promise) {
      answer.then(
        (a) => settle(socket, reply, a),
        (error) => {
          deps.logger.error({ err: error, event }, 'messaging handler failed');
          fail(socket, reply, internal);
        },
      );
    } else settle(socket, reply, answer);
  }

  const settle = (socket: MsgSocket, reply: Reply | undefined, answer: Ack | undefined) => {
    if (answer && !answer.ok) fail(socket, reply, answer);
    else reply?.(answer ?? { ok: true });
  };

  return {
    /** Serves the socket's events from the table, behind its rate limit. */
    attach(socket: MsgSocket) {
      // the socket's bucket, inline in this closure (see refill)
      let milli = deps.rateBurst * 1000;
      let at = clock();
      // middleware that never calls next(): the event is handled here, no listeners needed
      const middleware = (packet: Event) => {
        // Socket.IO's own dispatch skips a disconnected socket; this middleware is the dispatch
        if (!socket.connected) return;
        const [event, ...args] = packet;
        const t = clock();
        milli = refill(milli, t - at, deps.rateLimit, deps.rateBurst);
        at = t;
        if (milli < 1000) {
          const last = args[args.length - 1];
          fail(socket, typeof last === 'function' ? (last as Reply) : undefined, {
            ok: false,
            error: { code: ErrorCode.rateLimited, message: RATE_LIMIT_MESSAGE },
          });
          return;
        }
        milli -= 1000;
        dispatch(socket, event, args);
      };
      // use() would push onto Socket.IO's empty array, growing it to 17 slots (≈ 150 bytes
      // per connection, measured); a one-slot array holds the same middleware
      const own = socket as unknown as { fns?: unknown[] };
      if (Array.isArray(own.fns) && own.fns.length === 0) own.fns = [middleware];
      else socket.use(middleware);
    },
  };
}

export type EventEdge = ReturnType<typeof createEventEdge>;
