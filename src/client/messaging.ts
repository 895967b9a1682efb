import { io as defaultIo, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import {
  type CallEvent,
  type CallIncoming,
  type CallInviteAck,
  type CallMedia,
  type ClientToServerEvents,
  type DirectMessage,
  MAX_IDS_PER_CALL,
  MESSAGING_PATH,
  type MessageReceipt,
  type PresenceState,
  type ServerToClientEvents,
  type TypingIndicator,
} from '../protocol/messaging.js';
import { createBackoffPolicy, type ReconnectPolicy } from './backoff.js';
import { createEmitter, type Events } from './emitter.js';
import { ClientError, isRetryable } from './errors.js';
import { resolveToken, type TokenSource } from './http.js';
import { BoundedSet, randomId, sleep } from './ids.js';
import { httpUrl } from './platform.js';
import { createRetrySchedule } from './retry.js';
import type { SocketState, StateChange } from './socket.js';

/** Ended calls remembered per client, to drop a call:accepted that arrives after their end. */
const MAX_ENDED_CALLS = 256;

export interface MessagingEvents {
  [key: string]: unknown;
  state: StateChange;
  /** A new message (each id once, also when the server delivers it again after a reconnect). */
  message: DirectMessage;
  /** The recipient's device stored messages you sent. */
  delivered: MessageReceipt;
  /** The recipient read messages you sent. */
  read: MessageReceipt;
  presence: PresenceState;
  typing: TypingIndicator;
  'call:incoming': CallIncoming;
  'call:accepted': CallEvent;
  'call:rejected': CallEvent;
  'call:ended': CallEvent;
  announcement: unknown;
  error: ClientError;
}

export interface MessagingClientOptions {
  url: string;
  token: TokenSource;
  /** socket.io-client's `io`, to inject another build. @default io from socket.io-client */
  io?: typeof defaultIo;
  /** @default ['websocket'] (no sticky sessions needed behind a load balancer) */
  transports?: ('websocket' | 'polling' | 'webtransport')[];
  /** @default 1, 2, 4, 8, 16 s with full jitter */
  reconnectPolicy?: ReconnectPolicy;
  /** Time to wait for each acknowledgement (ms). @default 10000 */
  ackTimeoutMs?: number;
  /** Attempts of one `send` before it fails (same clientMsgId each time). @default 5 */
  sendAttempts?: number;
  /** Sends waiting for a connection; beyond it `send` fails with `queue_full`. @default 256 */
  maxPendingSends?: number;
  /** Acknowledge received messages automatically, right after the `message` listeners ran. @default true */
  autoAck?: boolean;
  /** Message ids remembered for dedupe. @default 10000 */
  dedupeWindow?: number;
  /** At most one `typing:start` per conversation per this many ms (the server keeps it 6 s). @default 3000 */
  typingThrottleMs?: number;
  /** Extra socket.io-client options. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface SendOptions {
  encrypted?: boolean;
  /** Reuse to make a retry of your own count once. @default a random id */
  clientMsgId?: string;
}

export interface MessagingClient extends Events<MessagingEvents> {
  readonly state: SocketState;
  /** The underlying Socket.IO socket (for events this wrapper does not cover). */
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  /** Sends with retries; resolves with the server's id once stored. */
  send(
    to: string,
    content: string,
    options?: SendOptions,
  ): Promise<{ id: string; timestamp: number; clientMsgId: string }>;
  /** Acknowledges messages (only needed with `autoAck: false`). */
  ack(ids: readonly string[]): void;
  markRead(from: string, ids: readonly string[]): void;
  setPresence(status: 'online' | 'away' | 'busy'): void;
  /** Subscribes (kept across reconnects); resolves with the current states. */
  subscribePresence(addresses: readonly string[]): Promise<PresenceState[]>;
  unsubscribePresence(addresses: readonly string[]): void;
  /** Call on every keystroke: throttled to one `typing:start` per `typingThrottleMs`. */
  typing(conversationId: string): void;
  stopTyping(conversationId: string): void;
  invite(to: string, roomId: string, media: CallMedia): Promise<CallInviteAck>;
  accept(roomId: string): Promise<void>;
  reject(roomId: string, reason?: string): Promise<void>;
  endCall(roomId: string, reason?: string): Promise<void>;
  close(): void;
}

/**
 * Direct messages, presence, typing and call invitations over Socket.IO (§4), with the
 * SDK's reconnect policy, retried sends (one clientMsgId per message, so the server
 * stores it once), dedupe of re-delivered messages and automatic acks.
 *
 * @example
 * const chat = createMessagingClient({ url: 'https://rt.example.com', token: auth });
 * chat.on('message', (m) => render(m));
 * await chat.send('0xAbc…', 'hello');
 */
export function createMessagingClient(options: MessagingClientOptions): MessagingClient {
  const events = createEmitter<MessagingEvents>();
  const policy = options.reconnectPolicy ?? createBackoffPolicy();
  const ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  const sendAttempts = options.sendAttempts ?? 5;
  const maxPendingSends = options.maxPendingSends ?? 256;
  let pendingSends = 0;
  /** Newest delivery receipt (server time), sent on reconnect so missed receipts come again. */
  let receiptsSince: number | undefined;
  const autoAck = options.autoAck ?? true;
  const throttleMs = options.typingThrottleMs ?? 3_000;
  const seen = new BoundedSet<string>(options.dedupeWindow ?? 10_000);
  const toAck = new Set<string>();
  const typingSent = new Map<string, number>();
  /**
   * The last MAX_ENDED_CALLS calls that ended here, by callId (`room:<roomId>` from a server
   * that sends none): a call:accepted for one of them is stale and dropped. roomId → the
   * callId of the latest call of that room seen here, for this client's own hang-ups.
   */
  const endedCalls = new Set<string>();
  const callIds = new Map<string, string>();
  const keep = (set: Set<string> | Map<string, string>) => {
    if (set.size > MAX_ENDED_CALLS) set.delete(set.keys().next().value as string);
  };
  const seenCall = (roomId: unknown, callId: unknown) => {
    if (typeof roomId !== 'string') return;
    if (typeof callId !== 'string') {
      endedCalls.delete(`room:${roomId}`);
      return;
    }
    callIds.delete(roomId);
    callIds.set(roomId, callId);
    keep(callIds);
  };
  const callOver = (roomId: unknown, callId?: unknown) => {
    if (typeof roomId !== 'string') return;
    const key = typeof callId === 'string' ? callId : (callIds.get(roomId) ?? `room:${roomId}`);
    endedCalls.delete(key);
    endedCalls.add(key);
    keep(endedCalls);
  };
  const presenceSubs = new Set<string>();
  let presenceStatus: 'online' | 'away' | 'busy' | undefined;
  let state: SocketState = 'idle';
  const retry = createRetrySchedule(policy);
  let ackTimer: ReturnType<typeof setTimeout> | undefined;

  // socket.io-client reads a URL path as a namespace: keep the origin there and put a base
  // path (a server behind a proxy prefix) into `path`
  const endpoint = httpUrl(options.url, MESSAGING_PATH);
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = (options.io ?? defaultIo)(
    endpoint.origin,
    {
      path: endpoint.pathname,
      transports: options.transports ?? ['websocket'],
      // reconnection is ours: the same policy as every other surface of the SDK
      reconnection: false,
      autoConnect: false,
      auth: (cb) => {
        resolveToken(options.token).then(
          // the receipts published while away come again from the time of the newest one
          (token) => cb(receiptsSince === undefined ? { token } : { token, receiptsSince }),
          (error) => {
            events.emit(
              'error',
              new ClientError('unauthorized', 'No token to connect with', { cause: error }),
            );
            cb({});
          },
        );
      },
      ...options.socketOptions,
    },
  );

  const setState = (to: SocketState) => {
    if (to === state) return;
    const from = state;
    state = to;
    events.emit('state', { from, to });
  };

  const schedule = (reason: string) => {
    if (state === 'closed') return;
    if (retry.next(() => socket.connect(), { reason }) === null) client.close();
    else setState('reconnecting');
  };

  const flushAcks = () => {
    ackTimer = undefined;
    if (!socket.connected || toAck.size === 0) return;
    const ids = [...toAck].slice(0, MAX_IDS_PER_CALL);
    for (const id of ids) toAck.delete(id);
    socket.emit('message:ack', { ids });
    if (toAck.size > 0) ackTimer = setTimeout(flushAcks, 0);
  };
  const queueAck = (id: string) => {
    toAck.add(id);
    // batch the acks of one burst (e.g. an inbox drain) into one event
    ackTimer ??= setTimeout(flushAcks, 0);
  };

  socket.on('connect', () => {
    retry.succeeded();
    setState('open');
    if (presenceStatus) socket.emit('presence:update', { status: presenceStatus });
    if (presenceSubs.size > 0) {
      socket.emit('presence:subscribe', { addresses: [...presenceSubs] }, (ack) => {
        if (ack.ok) for (const p of ack.presence) events.emit('presence', p);
      });
    }
    flushAcks();
  });
  socket.on('connect_error', (error) => {
    const e = new ClientError(error.message === 'unauthorized' ? 'unauthorized' : 'network', error.message, {
      cause: error,
    });
    events.emit('error', e);
    // a fixed token that the server refuses will not improve by retrying
    if (e.code === 'unauthorized' && typeof options.token === 'string') client.close();
    else schedule(error.message);
  });
  socket.on('disconnect', (reason) => {
    if (state === 'closed' || reason === 'io client disconnect') return;
    retry.markLost();
    schedule(reason);
  });
  socket.on('message:receive', (m) => {
    if (!seen.has(m.id)) {
      seen.add(m.id);
      events.emit('message', m);
    }
    // acked again when seen before: the first ack was lost with the connection
    if (autoAck) queueAck(m.id);
  });
  socket.on('message:delivered', (r) => {
    if (typeof r?.timestamp === 'number' && r.timestamp > (receiptsSince ?? 0)) receiptsSince = r.timestamp;
    events.emit('delivered', r);
  });
  socket.on('message:read', (r) => events.emit('read', r));
  socket.on('presence:update', (p) => events.emit('presence', p));
  socket.on('typing:indicator', (t) => events.emit('typing', t));
  socket.on('call:incoming', (c) => {
    seenCall(c?.roomId, c?.callId);
    events.emit('call:incoming', c);
  });
  socket.on('call:accepted', (c) => {
    // a cancel that crossed the accept on another server node is told first: the accept of a
    // call that already ended is stale
    if (typeof c?.roomId === 'string' && endedCalls.has(c.callId ?? `room:${c.roomId}`)) return;
    seenCall(c?.roomId, c?.callId);
    events.emit('call:accepted', c);
  });
  socket.on('call:rejected', (c) => {
    callOver(c?.roomId, c?.callId);
    events.emit('call:rejected', c);
  });
  socket.on('call:ended', (c) => {
    callOver(c?.roomId, c?.callId);
    events.emit('call:ended', c);
  });
  socket.on('system:announcement', (d) => events.emit('announcement', d));
  socket.on('error', (e) => events.emit('error', ClientError.from(e)));

  /** Resolves once connected; rejects if the client closes first. */
  const whenOpen = () =>
    state === 'open'
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const off = events.on('state', ({ to }) => {
            if (to === 'open') resolve();
            else if (to === 'closed') reject(new ClientError('closed', 'The client is closed'));
            else return;
            off();
          });
        });

  /** One acknowledged emit: the ack's error becomes a ClientError; no answer in time is `timeout`. */
  const request = async <T extends object>(
    event: keyof ClientToServerEvents,
    payload: unknown,
  ): Promise<T> => {
    await whenOpen();
    let ack: any;
    try {
      ack = await (socket.timeout(ackTimeoutMs) as any).emitWithAck(event, payload);
    } catch (error) {
      throw new ClientError('timeout', `No acknowledgement for ${event}`, { cause: error });
    }
    if (!ack?.ok) throw ClientError.from(ack?.error ?? { code: 'bad_response', message: 'Malformed ack' });
    return ack as T;
  };

  const client: MessagingClient = {
    on: events.on,
    once: events.once,
    off: events.off,
    get state() {
      return state;
    },
    socket,
    async send(to, content, sendOptions = {}) {
      if (state !== 'open' && pendingSends >= maxPendingSends) {
        throw new ClientError(
          'queue_full',
          `${maxPendingSends} messages are already waiting for a connection`,
        );
      }
      const clientMsgId = sendOptions.clientMsgId ?? randomId();
      const payload = { to, content, clientMsgId, ...(sendOptions.encrypted ? { encrypted: true } : {}) };
      const started = Date.now();
      pendingSends++;
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            const ack = await request<{ id: string; timestamp: number }>('message:send', payload);
            // a receipt for this message is newer than its store: replays start there at most
            receiptsSince ??= ack.timestamp;
            return { id: ack.id, timestamp: ack.timestamp, clientMsgId };
          } catch (error) {
            const retryable = isRetryable(error) || (error as ClientError).code === 'retry_later';
            if (!retryable || attempt + 1 >= sendAttempts || state === 'closed') throw error;
            const delay = policy.nextRetryDelayInMs({ retryCount: attempt, elapsedMs: Date.now() - started });
            if (delay === null) throw error;
            await sleep(delay);
          }
        }
      } finally {
        pendingSends--;
      }
    },
    ack(ids) {
      for (const id of ids) queueAck(id);
    },
    markRead(from, ids) {
      for (let i = 0; i < ids.length; i += MAX_IDS_PER_CALL) {
        socket.emit('message:read', { from, ids: ids.slice(i, i + MAX_IDS_PER_CALL) });
      }
    },
    setPresence(status) {
      presenceStatus = status;
      if (socket.connected) socket.emit('presence:update', { status });
    },
    async subscribePresence(addresses) {
      for (const a of addresses) presenceSubs.add(a);
      return (
        await request<{ presence: PresenceState[] }>('presence:subscribe', { addresses: [...addresses] })
      ).presence;
    },
    unsubscribePresence(addresses) {
      for (const a of addresses) presenceSubs.delete(a);
      if (socket.connected) socket.emit('presence:unsubscribe', { addresses: [...addresses] });
    },
    typing(conversationId) {
      const now = Date.now();
      if (now - (typingSent.get(conversationId) ?? 0) < throttleMs || !socket.connected) return;
      typingSent.set(conversationId, now);
      socket.emit('typing:start', { conversationId });
    },
    stopTyping(conversationId) {
      if (!typingSent.delete(conversationId) || !socket.connected) return;
      socket.emit('typing:stop', { conversationId });
    },
    async invite(to, roomId, media) {
      endedCalls.delete(`room:${roomId}`);
      // this client's hang-up before the ack names the new call by its room until then
      callIds.delete(roomId);
      const ack = await request<CallInviteAck & { ok: true }>('call:invite', { to, roomId, media });
      const endedMeanwhile = endedCalls.has(`room:${ack.roomId}`);
      seenCall(ack.roomId, ack.callId);
      if (endedMeanwhile && ack.callId) callOver(ack.roomId, ack.callId);
      return { roomId: ack.roomId, status: ack.status, ...(ack.callId ? { callId: ack.callId } : {}) };
    },
    async accept(roomId) {
      await request('call:accepted', { roomId });
    },
    async reject(roomId, reason) {
      callOver(roomId);
      await request('call:rejected', reason ? { roomId, reason } : { roomId });
    },
    async endCall(roomId, reason) {
      callOver(roomId);
      await request('call:ended', reason ? { roomId, reason } : { roomId });
    },
    close() {
      if (state === 'closed') return;
      retry.cancel();
      clearTimeout(ackTimer);
      setState('closed');
      socket.disconnect();
      events.removeAll();
    },
  };
  queueMicrotask(() => {
    if (state !== 'idle') return;
    setState('connecting');
    socket.connect();
  });
  return client;
}
