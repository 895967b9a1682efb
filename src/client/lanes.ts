import {
  LANES,
  LaneControl,
  type LaneName,
  LanePaths,
  type LostEventData,
  MAX_RECEIPT_BATCH,
  type MuxEventData,
  type ReadyEventData,
  type ReceiptsAccepted,
  type SessionResponse,
} from '../protocol/lanes.js';
import { createBackoffPolicy, type ReconnectPolicy } from './backoff.js';
import { createEmitter, type Events } from './emitter.js';
import { ClientError, isRetryable } from './errors.js';
import { requestJson, resolveToken, type TokenSource } from './http.js';
import { randomId, sleep } from './ids.js';
import {
  type EventSourceConstructor,
  type EventSourceLike,
  type FetchLike,
  httpUrl,
  resolveEventSource,
  resolveFetch,
} from './platform.js';
import { createRetrySchedule } from './retry.js';
import type { SocketState, StateChange } from './socket.js';

/** One event of a lane. */
export interface LaneEvent<T = unknown> {
  lane: LaneName;
  type: string;
  data: T;
  /** The stream position after this event (what a reconnect resumes from). */
  id: string;
}

export interface LaneSubscriptionEvents {
  [key: string]: unknown;
  state: StateChange;
  event: LaneEvent;
  /** The stream (re)started; `resumed` when it continued from a last id. */
  ready: ReadyEventData;
  /** Events after the last id were no longer retained: the app should resync. */
  lost: LostEventData;
  error: ClientError;
}

export interface LaneSubscription extends Events<LaneSubscriptionEvents> {
  readonly state: SocketState;
  /** Where a new subscription would resume (pass it as `lastEventId` after a page reload). */
  readonly lastEventId: string | undefined;
  close(): void;
}

/**
 * What to subscribe to: several lanes multiplexed on one connection (the default: every
 * lane), or one lane's own endpoint, which needs the event `types` up front because an
 * EventSource only delivers named events it has listeners for.
 */
export type LaneTarget = { lanes?: readonly LaneName[] } | { lane: LaneName; types: readonly string[] };

export interface LaneClientOptions {
  url: string;
  token: TokenSource;
  /** @default globalThis.EventSource */
  EventSource?: EventSourceConstructor;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
  /** Reconnects of streams and retries of receipts. @default 1, 2, 4, 8, 16 s with full jitter */
  reconnectPolicy?: ReconnectPolicy;
}

export interface LaneClient {
  /** `POST /v1/session`: a new session owned by the caller. */
  createSession(): Promise<SessionResponse>;
  /** Opens a stream that resumes from its last id across reconnects (and server restarts). */
  subscribe(sid: string, target?: LaneTarget, options?: { lastEventId?: string }): LaneSubscription;
  /**
   * Posts receipts in batches of 100, with retries; each receipt gets an id so a retried
   * batch counts once on the server.
   */
  sendReceipts(
    sid: string,
    receipts: readonly { type: string; data?: unknown; id?: string }[],
  ): Promise<{ accepted: number; duplicates: number }>;
}

/**
 * The SSE lanes of §5.
 *
 * @example
 * const lanes = createLaneClient({ url: 'https://rt.example.com', token: auth });
 * const { sid } = await lanes.createSession();
 * const sub = lanes.subscribe(sid);                    // every lane, multiplexed
 * sub.on('event', (e) => console.log(e.lane, e.type, e.data));
 * await lanes.sendReceipts(sid, [{ type: 'played', data: { item: 7 } }]);
 */
export function createLaneClient(options: LaneClientOptions): LaneClient {
  const fetchFn = resolveFetch(options.fetch);
  const policy = options.reconnectPolicy ?? createBackoffPolicy();
  const path = (template: string, params: Record<string, string>) =>
    template.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params[k] ?? ''));

  return {
    async createSession() {
      return requestJson<SessionResponse>(fetchFn, httpUrl(options.url, LanePaths.sessions), {
        method: 'POST',
        token: await resolveToken(options.token),
        body: {},
      });
    },
    subscribe(sid, target = {}, subOptions = {}) {
      return openSubscription({
        ES: resolveEventSource(options.EventSource),
        policy,
        token: options.token,
        lastEventId: subOptions.lastEventId,
        target,
        url: (token, last) => {
          const u =
            'lane' in target
              ? httpUrl(options.url, path(LanePaths.lane, { sid, lane: target.lane }))
              : httpUrl(options.url, path(LanePaths.stream, { sid }));
          if (!('lane' in target) && target.lanes) u.searchParams.set('lanes', target.lanes.join(','));
          u.searchParams.set('token', token);
          if (last) u.searchParams.set('lastEventId', last);
          return String(u);
        },
      });
    },
    async sendReceipts(sid, receipts) {
      const url = httpUrl(options.url, path(LanePaths.receipts, { sid }));
      const withIds = receipts.map((r) => ({ ...r, id: r.id ?? randomId() }));
      const total = { accepted: 0, duplicates: 0 };
      for (let i = 0; i < withIds.length; i += MAX_RECEIPT_BATCH) {
        const body = withIds.slice(i, i + MAX_RECEIPT_BATCH);
        const started = Date.now();
        for (let attempt = 0; ; attempt++) {
          try {
            const r = await requestJson<ReceiptsAccepted>(fetchFn, url, {
              token: await resolveToken(options.token),
              body,
            });
            total.accepted += r.accepted;
            total.duplicates += r.duplicates ?? 0;
            break;
          } catch (error) {
            const delay = isRetryable(error)
              ? policy.nextRetryDelayInMs({ retryCount: attempt, elapsedMs: Date.now() - started })
              : null;
            if (delay === null || attempt >= 4) throw error;
            await sleep(delay);
          }
        }
      }
      return total;
    },
  };
}

function openSubscription(o: {
  ES: EventSourceConstructor;
  policy: ReconnectPolicy;
  token: TokenSource;
  lastEventId: string | undefined;
  target: LaneTarget;
  url: (token: string, lastEventId: string | undefined) => string;
}): LaneSubscription {
  const events = createEmitter<LaneSubscriptionEvents>();
  let state: SocketState = 'idle';
  let last = o.lastEventId;
  let source: EventSourceLike | undefined;
  const retry = createRetrySchedule(o.policy);

  const setState = (to: SocketState) => {
    if (to === state) return;
    const from = state;
    state = to;
    events.emit('state', { from, to });
  };
  const parse = (e: MessageEvent): unknown => {
    try {
      return JSON.parse(e.data as string);
    } catch {
      return e.data;
    }
  };

  const drop = () => {
    if (!source) return;
    source.onopen = source.onerror = null;
    source.close();
    source = undefined;
  };

  // the browser's own EventSource retry would reuse the first URL (and its token) at the
  // server's pace: we close on any error and reconnect with our policy, a fresh token and
  // the last id instead
  const lost = (reason: string) => {
    drop();
    if (state === 'closed') return;
    if (state === 'open') retry.markLost();
    if (retry.next(() => void open(), { reason }) === null) {
      events.emit('error', new ClientError('closed', 'Gave up reconnecting'));
      setState('closed');
      return;
    }
    setState('reconnecting');
  };

  const open = async () => {
    let token: string;
    try {
      token = await resolveToken(o.token);
    } catch (error) {
      events.emit('error', new ClientError('unauthorized', 'No token for the lane stream', { cause: error }));
      lost('token');
      return;
    }
    if (state === 'closed') return;
    const es = new o.ES(o.url(token, last));
    source = es;
    const track = (e: MessageEvent) => {
      if (source !== es) return false;
      if (e.lastEventId) last = e.lastEventId;
      return true;
    };
    es.onerror = () => {
      if (source === es) lost('error');
    };
    es.addEventListener(LaneControl.ready, (e) => {
      if (!track(e)) return;
      retry.succeeded();
      setState('open');
      events.emit('ready', parse(e) as ReadyEventData);
    });
    es.addEventListener(LaneControl.lost, (e) => {
      if (track(e)) events.emit('lost', parse(e) as LostEventData);
    });
    es.addEventListener(LaneControl.expired, (e) => {
      if (!track(e)) return;
      events.emit(
        'error',
        new ClientError('unauthorized', 'The token expired: reconnecting with a fresh one'),
      );
      lost('expired');
    });
    const target = o.target;
    if ('lane' in target) {
      for (const type of target.types) {
        es.addEventListener(type, (e) => {
          if (track(e)) events.emit('event', { lane: target.lane, type, data: parse(e), id: e.lastEventId });
        });
      }
    } else {
      for (const lane of target.lanes ?? LANES) {
        es.addEventListener(lane, (e) => {
          if (!track(e)) return;
          const m = parse(e) as MuxEventData;
          events.emit('event', { lane, type: m.type, data: m.data, id: e.lastEventId });
        });
      }
    }
  };

  // on a microtask, so listeners added right after subscribe() see the first transition
  queueMicrotask(() => {
    if (state !== 'idle') return;
    setState('connecting');
    void open();
  });
  return {
    on: events.on,
    once: events.once,
    off: events.off,
    get state() {
      return state;
    },
    get lastEventId() {
      return last;
    },
    close() {
      retry.cancel();
      drop();
      setState('closed');
      events.removeAll();
    },
  };
}
