import { ErrorCode } from '../../protocol/errors.js';
import {
  isLaneEventId,
  isLaneName,
  LANES,
  LaneControl,
  type LaneName,
  parseMuxId,
  type ReadyEventData,
} from '../../protocol/lanes.js';
import type { AuthContext } from '../auth/index.js';
import { badRequest, forbidden, HttpError, notFound } from '../http/errors.js';
import type { RouteContext } from '../http/router.js';
import type { Logger } from '../observability/logger.js';
import type { LaneFeeds } from './feed.js';
import { type LaneHistory, PAGE } from './history.js';
import type { SessionStore } from './sessions.js';
import { type CloseReason, LaneStream } from './stream.js';

/** PROTOCOL §5 / the seed's setupSSEHeaders, plus nosniff. */
const SSE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
};
/** The access lane carries decryption keys: no cache of any kind, no Referer leak. */
const SECRET_HEADERS: Record<string, string> = { Pragma: 'no-cache', 'Referrer-Policy': 'no-referrer' };

/** setTimeout's ceiling (~24.8 days); longer token lifetimes re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface StreamDeps {
  auth: AuthContext;
  sessions: SessionStore;
  history: LaneHistory;
  feeds: LaneFeeds;
  logger: Logger;
  now: () => number;
  retryMs: number;
  sendBufferBytes: number;
  /** Live events one stream may hold while it replays history. */
  maxPending: number;
  closing(): boolean;
  /** Takes a connection slot for `address` (throws 429/503), and returns its release. */
  admit(address: string): () => void;
  opened(stream: LaneStream): void;
  closed(stream: LaneStream, reason: CloseReason): void;
  replayed(lane: LaneName, events: number, lost: boolean): void;
}

/** Reads `Last-Event-ID` (the header wins over `?lastEventId=`) into a position per lane. */
export function parseLastEventId(
  raw: string | undefined,
  lanes: LaneName[],
  mux: boolean,
): Partial<Record<LaneName, string>> {
  if (raw === undefined || raw === '') return {};
  if (raw.length > 200) throw badRequest('Last-Event-ID is too long');
  // `0`: everything retained, on every lane of the stream
  if (raw === '0') return Object.fromEntries(lanes.map((lane) => [lane, '0-0']));
  if (!mux && isLaneEventId(raw)) return { [lanes[0]!]: raw };
  const all = parseMuxId(raw);
  if (!all) throw badRequest('Last-Event-ID is not an id this server issued');
  const out: Partial<Record<LaneName, string>> = {};
  for (const lane of lanes) if (all[lane] !== undefined) out[lane] = all[lane];
  return out;
}

/** `?lanes=manifests,catalog` narrows the multiplexed stream; absent: every lane. */
export function parseLanes(raw: string | null): LaneName[] {
  if (raw === null || raw === '') return [...LANES];
  const wanted = raw.split(',');
  if (!wanted.every(isLaneName)) throw badRequest(`lanes must name lanes among ${LANES.join(', ')}`);
  return LANES.filter((l) => wanted.includes(l));
}

/**
 * Opens an SSE stream of one lane, or several (`mux`). Live events are taken from the
 * node's feed from the start and held while history after Last-Event-ID is replayed;
 * then what was held and is newer than the replay is flushed: no gap, no duplicate.
 */
export async function serveStream(
  deps: StreamDeps,
  ctx: RouteContext,
  target: { sid: string; lanes: LaneName[]; mux: boolean },
): Promise<void> {
  const { req, res, url } = ctx;
  const { sid, lanes, mux } = target;
  const identity = await deps.auth.requireUser(req, url);
  const found = await deps.sessions.get(sid);
  if (!found) throw notFound('Unknown session');
  if (found.owner !== identity.address) throw forbidden('This session belongs to another address');
  const header = req.headers['last-event-id'];
  const lastIds = parseLastEventId(
    (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('lastEventId') ?? undefined,
    lanes,
    mux,
  );
  if (deps.closing()) throw new HttpError(503, ErrorCode.unavailable, 'Server is shutting down');
  const release = deps.admit(identity.address);
  const headers = lanes.includes('access') ? { ...SSE_HEADERS, ...SECRET_HEADERS } : SSE_HEADERS;
  if (req.method === 'HEAD') {
    release();
    res.writeHead(200, headers).end();
    return;
  }
  try {
    await deps.sessions.touch(found);
  } catch (error) {
    release();
    throw error;
  }

  res.writeHead(200, headers);
  res.flushHeaders();
  // the request lives as long as the stream: keep its path, not a `?token=` it may carry
  // (copied: `pathname` is a slice that would keep the whole URL string alive)
  req.url = Buffer.from(url.pathname).toString();
  req.socket.setNoDelay(true);
  req.socket.setTimeout(0);
  const limits = { sendBufferBytes: deps.sendBufferBytes, maxPending: deps.maxPending };
  let timer: NodeJS.Timeout | undefined;
  const stream = new LaneStream(res, lanes, mux, limits, deps.now, (s, reason) => {
    clearTimeout(timer);
    for (const lane of lanes) deps.feeds.release(sid, lane, s);
    release();
    deps.closed(s, reason);
  });
  res.on('close', () => stream.gone());
  // a write racing a reset must not become an unhandled 'error' event
  res.on('error', () => stream.gone());
  deps.opened(stream);

  // the stream lives no longer than the token that opened it
  const arm = () => {
    const left = identity.expiresAt - deps.now();
    if (left > MAX_TIMER_MS) {
      timer = setTimeout(arm, MAX_TIMER_MS);
      return;
    }
    timer = setTimeout(
      () => {
        const data = JSON.stringify({ reason: 'token_expired', expiresAt: identity.expiresAt });
        stream.end('expired', `event: ${LaneControl.expired}\ndata: ${data}\n\n`);
      },
      Math.max(0, left),
    );
  };
  arm();

  try {
    const fresh: Partial<Record<LaneName, string>> = {};
    for (const lane of lanes) {
      fresh[lane] = await deps.feeds.acquire(sid, lane, stream);
      // the client left while this node subscribed: its close already released the others
      if (stream.closed) {
        deps.feeds.release(sid, lane, stream);
        return;
      }
    }
    for (const lane of lanes) stream.positions[lane] = lastIds[lane] ?? fresh[lane]!;
    const ready: ReadyEventData = { sid, lanes, resumed: Object.keys(lastIds).length > 0 };
    stream.write(
      `retry: ${deps.retryMs}\nevent: ${LaneControl.ready}\nid: ${stream.currentId()}\ndata: ${JSON.stringify(ready)}\n\n`,
    );
    for (const lane of lanes) if (lastIds[lane] === undefined) stream.goLive(lane);
    for (const lane of lanes) {
      const lastId = lastIds[lane];
      if (lastId === undefined || stream.closed) continue;
      const r = await deps.history.resume(sid, lane, lastId);
      if (stream.closed) return;
      let text = r.lost ? stream.renderLost(r.lost, r.lost.retainedAfter) : '';
      text += stream.render(lane, { entries: r.entries });
      stream.write(text, true);
      let sent = r.entries.length;
      for (let more = r.more; more && !stream.closed; ) {
        await stream.drained();
        const entries = await deps.history.range(sid, lane, stream.positions[lane]!, PAGE);
        stream.write(stream.render(lane, { entries }), true);
        sent += entries.length;
        more = entries.length === PAGE;
      }
      deps.replayed(lane, sent, r.lost !== null);
      stream.goLive(lane);
    }
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message, lanes }, 'lane stream failed; the client resumes');
    stream.end('error');
  }
}
