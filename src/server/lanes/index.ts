import { getAddress, isAddress } from 'viem';
import { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import {
  isLaneName,
  type LaneEventInput,
  type LaneName,
  MAX_PUBLISH_BATCH,
  type PublishResponse,
  type SessionResponse,
} from '../../protocol/lanes.js';
import { laneEventInputSchema } from '../../protocol/lanes.schema.js';
import { HttpError } from '../http/errors.js';
import { inSlices, SLICE } from '../limits/slices.js';
import type { Surface, SurfaceContext } from '../surface.js';
import { createLaneFeeds } from './feed.js';
import { createLaneHistory } from './history.js';
import { createReceipts } from './receipts.js';
import { mountLaneRoutes } from './routes.js';
import { createSessionStore } from './sessions.js';
import type { LaneStream } from './stream.js';

/** What code embedding the server can do with lanes (`server.lanes`). */
export interface LanesApi {
  /**
   * Publishes to a session's lane, exactly as `POST /v1/session/:sid/lane/:lane/events`
   * does: stored in the lane's history and delivered to its streams on every node.
   * Throws a ProtocolError `not_found` (session or lane), `bad_request` (CR/LF/NUL in a
   * type or id, a reserved type) or `payload_too_large` (more than 1000 events).
   *
   * @example
   * const { ids } = await server.lanes.publish(sid, 'access', { type: 'key', data: { kid, key } });
   */
  publish(sid: string, lane: LaneName, events: LaneEventInput | LaneEventInput[]): Promise<PublishResponse>;
  /** Creates a session owned by `address` (as `POST /v1/session` does for a signed-in user). */
  createSession(address: string): Promise<SessionResponse>;
}

export interface LanesSurface extends Surface, LanesApi {
  readonly name: 'lanes';
}

/** The lanes surface among the started ones (for `RealtimeServer.lanes`). */
export function lanesApi(surfaces: readonly Surface[]): LanesApi {
  const found = surfaces.find((s): s is LanesSurface => s.name === 'lanes');
  if (!found) throw new Error('the lanes surface is not started');
  return found;
}

/**
 * SSE lanes (PROTOCOL.md §5): sessions, the three lanes and their multiplexed stream,
 * history and resume in the engine, publishing, receipts.
 */
export function createLanesSurface(ctx: SurfaceContext): LanesSurface {
  const { config, engine, metrics, logger, now } = ctx;
  const log = logger.child({ surface: 'lanes' });
  const sessions = createSessionStore({ engine, ttlMs: config.sessionTtlSec * 1000, now });
  const history = createLaneHistory({
    engine,
    maxLen: config.laneHistory,
    ttlMs: config.laneHistoryTtlSec * 1000,
    maxEventBytes: config.laneEventMaxBytes,
    now,
    onNotifyError: (e) => log.warn({ err: e.message }, 'lane notification failed; streams catch up later'),
  });
  const feeds = createLaneFeeds({ engine, history, logger: log, metrics, now });
  const receipts = createReceipts({
    engine,
    maxLen: config.receiptsMax,
    ttlMs: config.receiptsTtlSec * 1000,
    maxDataBytes: config.laneEventMaxBytes,
    now,
  });

  const streams = new Set<LaneStream>();
  const perAddress = new Map<string, number>();
  let closing = false;
  const m = {
    streams: metrics.gauge('p3_lanes_streams', 'Open SSE streams', ['kind'], function () {
      let mux = 0;
      for (const s of streams) if (s.mux) mux++;
      this.set({ kind: 'mux' }, mux);
      this.set({ kind: 'lane' }, streams.size - mux);
    }),
    closes: metrics.counter('p3_lanes_stream_closes_total', 'SSE streams closed, by reason', ['reason']),
    published: metrics.counter('p3_lanes_events_published_total', 'Events appended to lanes', ['lane']),
    replayed: metrics.counter('p3_lanes_events_replayed_total', 'Events replayed from history', ['lane']),
    lost: metrics.counter('p3_lanes_lost_total', 'Resumes told that events were lost', ['lane']),
    receipts: metrics.counter('p3_lanes_receipts_total', 'Receipts by result', ['result']),
    sessions: metrics.counter('p3_lanes_sessions_created_total', 'Lane sessions created'),
  };

  const publish = async (sid: string, lane: LaneName, events: LaneEventInput[]) => {
    const r = await history.append(sid, lane, events);
    m.published.inc({ lane }, events.length - r.duplicates);
    return r;
  };
  const countedReceipts: typeof receipts = {
    read: receipts.read,
    async accept(sid, address, inputs) {
      const r = await receipts.accept(sid, address, inputs);
      m.receipts.inc({ result: 'accepted' }, r.accepted);
      m.receipts.inc({ result: 'duplicate' }, r.duplicates);
      return r;
    },
  };

  mountLaneRoutes(ctx.router, {
    auth: ctx.auth,
    sessions: {
      ...sessions,
      async create(owner) {
        m.sessions.inc();
        return sessions.create(owner);
      },
    },
    history: { ...history, append: publish },
    receipts: countedReceipts,
    maxBodyBytes: config.maxBodyBytes,
    stream: {
      auth: ctx.auth,
      sessions,
      history,
      feeds,
      logger: log,
      now,
      retryMs: config.sseRetryMs,
      sendBufferBytes: config.sendBufferBytes,
      maxPending: Math.max(config.laneHistory, 1000),
      closing: () => closing,
      admit(address) {
        const held = perAddress.get(address) ?? 0;
        if (held >= config.maxConnectionsPerAddress) {
          throw new HttpError(429, ErrorCode.tooManyConnections, 'Too many streams for this address');
        }
        if (!ctx.connections.tryAcquire()) {
          throw new HttpError(
            503,
            ErrorCode.tooManyConnections,
            'This node serves its maximum of connections',
          );
        }
        perAddress.set(address, held + 1);
        let released = false;
        return () => {
          if (released) return;
          released = true;
          ctx.connections.release();
          const n = (perAddress.get(address) ?? 1) - 1;
          if (n <= 0) perAddress.delete(address);
          else perAddress.set(address, n);
        };
      },
      opened: (s) => streams.add(s),
      closed(s, reason) {
        streams.delete(s);
        m.closes.inc({ reason });
      },
      replayed(lane, events, lost) {
        m.replayed.inc({ lane }, events);
        if (lost) m.lost.inc({ lane });
      },
    },
  });

  // One timer for every stream (not one per stream): every quarter interval, a comment on
  // each stream idle for half of it, the writes spread over a sixteenth of it, so none goes
  // 13/16 of P3_SSE_KEEPALIVE without a byte (proxies close silent connections; a write is
  // also how a dead peer is noticed).
  const keepAlive = setInterval(
    () => {
      const idleSince = now() - config.sseKeepAliveMs / 2;
      // in paced slices: 10,000 idle streams are 10,000 writes, which must not stall live events
      inSlices(
        streams,
        SLICE,
        (s) => {
          if (s.lastWriteAt <= idleSince) s.write(':\n\n');
        },
        { spreadMs: config.sseKeepAliveMs / 16 },
      ).catch((error) => log.error({ err: error }, 'lanes keep-alive failed'));
      // a lane with readers here is re-read at least every two intervals (30 s by default)
      feeds.sweep(config.sseKeepAliveMs * 2);
    },
    Math.max(12, Math.floor(config.sseKeepAliveMs / 4)),
  );
  keepAlive.unref();

  return {
    name: 'lanes',
    async publish(sid, lane, events) {
      const list = Array.isArray(events) ? events : [events];
      if (!isLaneName(lane)) throw new ProtocolError(ErrorCode.notFound, `Unknown lane "${lane}"`);
      if (list.length === 0) return { ids: [], duplicates: 0 };
      if (list.length > MAX_PUBLISH_BATCH) {
        throw new ProtocolError(ErrorCode.payloadTooLarge, `At most ${MAX_PUBLISH_BATCH} events per batch`);
      }
      for (const e of list) {
        const r = laneEventInputSchema.safeParse(e);
        if (!r.success)
          throw new ProtocolError(ErrorCode.badRequest, r.error.issues[0]?.message ?? 'invalid');
      }
      if (!(await sessions.get(sid))) throw new ProtocolError(ErrorCode.notFound, 'Unknown session');
      return publish(sid, lane, list);
    },
    async createSession(address) {
      if (!isAddress(address, { strict: false })) {
        throw new ProtocolError(ErrorCode.badRequest, 'address must be an Ethereum address');
      }
      m.sessions.inc();
      // owners are compared with the token's EIP-55 form
      const s = await sessions.create(getAddress(address));
      return { sid: s.sid, expiresAt: s.expiresAt };
    },
    async close() {
      closing = true;
      clearInterval(keepAlive);
      // ends each response after what it was sent: clients reconnect (elsewhere) and resume
      for (const s of [...streams]) s.end('shutdown');
      await feeds.close();
    },
  };
}
