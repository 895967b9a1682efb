import type { z } from 'zod';
import { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import {
  isLaneEventId,
  isLaneName,
  type LaneEventInput,
  type LaneName,
  LanePaths,
  MAX_PUBLISH_BATCH,
  MAX_RECEIPT_BATCH,
  MAX_RECEIPTS_PAGE,
  type ReceiptInput,
  type SessionResponse,
} from '../../protocol/lanes.js';
import { publishBodySchema, receiptsBodySchema } from '../../protocol/lanes.schema.js';
import type { AuthContext } from '../auth/index.js';
import { readJson } from '../http/body.js';
import { badRequest, forbidden, HttpError, notFound, sendJson } from '../http/errors.js';
import type { RouteContext, Router } from '../http/router.js';
import { KeyedBuckets } from '../limits/token-bucket.js';
import type { LaneHistory } from './history.js';
import type { Receipts } from './receipts.js';
import { parseLanes, type StreamDeps, serveStream } from './serve-stream.js';
import type { SessionStore } from './sessions.js';

export interface RouteDeps {
  auth: AuthContext;
  sessions: SessionStore;
  history: LaneHistory;
  receipts: Receipts;
  stream: StreamDeps;
  maxBodyBytes: number;
}

const STATUS: Partial<Record<string, number>> = {
  [ErrorCode.badRequest]: 400,
  [ErrorCode.forbidden]: 403,
  [ErrorCode.notFound]: 404,
  [ErrorCode.payloadTooLarge]: 413,
};

/** ProtocolErrors of the lane core (shared with the embedder API) as HTTP errors. */
export async function asHttp<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new HttpError(STATUS[error.code] ?? 500, error.code, error.message);
    throw error;
  }
}

/** Validates a body against a schema: 413 past `max` items, 400 with the first issue otherwise. */
export function parseBatch<T>(body: unknown, schema: z.ZodType<T | T[]>, max: number): T[] {
  if (Array.isArray(body) && body.length > max) {
    throw new HttpError(413, ErrorCode.payloadTooLarge, `At most ${max} items per batch`);
  }
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw badRequest(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return Array.isArray(r.data) ? r.data : [r.data];
}

const laneOf = (params: Record<string, string>): LaneName => {
  const lane = params.lane ?? '';
  if (!isLaneName(lane)) throw notFound(`Unknown lane "${lane.slice(0, 32)}"`);
  return lane;
};

/** The REST calls and streams of PROTOCOL.md §5. */
export function mountLaneRoutes(router: Router, deps: RouteDeps): void {
  const { auth, sessions } = deps;
  // sessions and receipts cost engine writes: bound how fast one address can make them
  const sessionLimit = new KeyedBuckets(5, 50);
  const receiptLimit = new KeyedBuckets(50, 200);
  const limit = (buckets: KeyedBuckets, address: string) => {
    if (!buckets.take(address)) {
      throw new HttpError(429, ErrorCode.rateLimited, 'Rate limit exceeded', { 'Retry-After': '1' });
    }
  };
  const owned = async (ctx: RouteContext) => {
    const identity = await auth.requireUser(ctx.req, ctx.url);
    const session = await sessions.get(ctx.params.sid ?? '');
    if (!session) throw notFound('Unknown session');
    if (session.owner !== identity.address) throw forbidden('This session belongs to another address');
    return { identity, session };
  };

  router.post(LanePaths.sessions, async (ctx) => {
    const identity = await auth.requireUser(ctx.req, ctx.url);
    limit(sessionLimit, identity.address);
    const s = await sessions.create(identity.address);
    const body: SessionResponse = { sid: s.sid, expiresAt: s.expiresAt };
    sendJson(ctx.res, 201, body);
  });

  // declared before `:lane` so that POST …/lane/receipts is not a 405 of the lane stream
  router.post(LanePaths.receipts, async (ctx) => {
    const { identity, session } = await owned(ctx);
    limit(receiptLimit, identity.address);
    const body = await readJson(ctx.req, deps.maxBodyBytes);
    const inputs = parseBatch<ReceiptInput>(body, receiptsBodySchema, MAX_RECEIPT_BATCH);
    sendJson(ctx.res, 202, await asHttp(deps.receipts.accept(session.sid, identity.address, inputs)));
  });

  router.get(LanePaths.lane, (ctx) =>
    serveStream(deps.stream, ctx, { sid: ctx.params.sid ?? '', lanes: [laneOf(ctx.params)], mux: false }),
  );
  router.get(LanePaths.stream, (ctx) =>
    serveStream(deps.stream, ctx, {
      sid: ctx.params.sid ?? '',
      lanes: parseLanes(ctx.url.searchParams.get('lanes')),
      mux: true,
    }),
  );

  router.post(LanePaths.publish, async (ctx) => {
    auth.requireService(ctx.req);
    const lane = laneOf(ctx.params);
    const body = await readJson(ctx.req, deps.maxBodyBytes);
    const events = parseBatch<LaneEventInput>(body, publishBodySchema, MAX_PUBLISH_BATCH);
    const session = await sessions.get(ctx.params.sid ?? '');
    if (!session) throw notFound('Unknown session');
    sendJson(ctx.res, 200, await asHttp(deps.history.append(session.sid, lane, events)));
  });

  router.get(LanePaths.receiptsFeed, async (ctx) => {
    auth.requireService(ctx.req);
    const after = ctx.url.searchParams.get('after') ?? '0-0';
    if (!isLaneEventId(after) && after !== '0') throw badRequest('after must be a receipt id');
    const rawLimit = ctx.url.searchParams.get('limit') ?? '100';
    const n = /^\d{1,7}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!(n >= 1 && n <= MAX_RECEIPTS_PAGE)) throw badRequest(`limit must be 1 to ${MAX_RECEIPTS_PAGE}`);
    sendJson(ctx.res, 200, await deps.receipts.read(after === '0' ? '0-0' : after, n));
  });
}
