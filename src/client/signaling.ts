import { ErrorCode } from '../protocol/errors.js';
import {
  isValidRoomId,
  SIGNALING_PATH,
  type SignalingPeer,
  type SignalingRelayType,
  type SignalingServerFrame,
  type StatsData,
} from '../protocol/signaling.js';
import type { ReconnectPolicy } from './backoff.js';
import { createEmitter, type Events } from './emitter.js';
import { ClientError } from './errors.js';
import { onTokenRefresh, resolveToken, type TokenSource } from './http.js';
import { toWsUrl, type WebSocketConstructor } from './platform.js';
import {
  createReconnectingSocket,
  type ReconnectingSocketOptions,
  type SocketState,
  type StateChange,
} from './socket.js';

/** An offer, answer or ICE candidate relayed from another peer. */
export interface SignalMessage {
  type: SignalingRelayType;
  roomId: string;
  from: string;
  fromAddress: string;
  data: unknown;
}

export interface SignalingEvents {
  [key: string]: unknown;
  state: StateChange;
  /** Authenticated (on every connection: the peerId changes after a reconnect). */
  authenticated: { address: string; peerId: string; reconnected: boolean };
  /** This connection is in the room (after `join`, and again after each reconnect). */
  joined: { roomId: string; peerId: string; peers: SignalingPeer[]; rejoined: boolean };
  peer_joined: { roomId: string; peer: SignalingPeer };
  peer_left: { roomId: string; peerId: string };
  signal: SignalMessage;
  /** Another peer ended the call in this room. */
  end: { roomId: string; from: string; fromAddress: string };
  error: ClientError;
}

export interface SignalingClientOptions
  extends Pick<ReconnectingSocketOptions, 'connectTimeoutMs' | 'heartbeat' | 'maxQueuedMessages'> {
  /** The server's base URL (`https://…` or `wss://…`). */
  url: string;
  token: TokenSource;
  /** @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /** @default 1, 2, 4, 8, 16 s with full jitter */
  reconnectPolicy?: ReconnectPolicy;
}

export interface SignalingClient extends Events<SignalingEvents> {
  readonly state: SocketState;
  /** This connection's peerId (changes after a reconnect). */
  readonly peerId: string | undefined;
  readonly address: string | undefined;
  /** Rooms this client is in (and re-joins after a reconnect). */
  readonly rooms: ReadonlySet<string>;
  /** Joins a room; resolves with the peers already there. */
  join(roomId: string): Promise<SignalingPeer[]>;
  /** Leaves quietly (the others get `peer_left`). */
  leave(roomId: string): void;
  /** Ends the call for everyone in the room and leaves it. */
  end(roomId: string): void;
  /** Relays an offer/answer/candidate to one peer (`to`) or to the whole room. */
  signal(type: SignalingRelayType, roomId: string, data: unknown, to?: string): boolean;
  /** Reports a call-quality sample (§3.1). */
  sendStats(roomId: string, data: StatsData): boolean;
  /** Reconnects now (e.g. after a network change). */
  reconnect(): void;
  close(): void;
}

const JOIN_ERRORS = new Set<string>([ErrorCode.roomFull, ErrorCode.invalidRoom, ErrorCode.badRequest]);

/**
 * The signaling WebSocket (§3): authenticates on every connection, re-joins its rooms
 * after a reconnect, and hands relayed offers/answers/candidates to the call.
 *
 * @example
 * const signaling = createSignalingClient({ url: 'https://rt.example.com', token: auth });
 * const peers = await signaling.join('room-42');
 * signaling.on('signal', (m) => console.log(m.type, 'from', m.from));
 */
export function createSignalingClient(options: SignalingClientOptions): SignalingClient {
  const events = createEmitter<SignalingEvents>();
  const rooms = new Set<string>();
  const pendingJoins: {
    roomId: string;
    resolve: (p: SignalingPeer[]) => void;
    reject: (e: ClientError) => void;
  }[] = [];
  let peerId: string | undefined;
  let address: string | undefined;
  let inHandshake = false;

  const frame = (f: Record<string, unknown>) => JSON.stringify(f);
  const parse = (text: string): SignalingServerFrame | undefined => {
    try {
      const f = JSON.parse(text) as SignalingServerFrame;
      return typeof f === 'object' && f !== null && typeof f.type === 'string' ? f : undefined;
    } catch {
      return undefined;
    }
  };

  const socket = createReconnectingSocket({
    url: toWsUrl(options.url, SIGNALING_PATH),
    autoConnect: false,
    WebSocket: options.WebSocket,
    reconnectPolicy: options.reconnectPolicy,
    connectTimeoutMs: options.connectTimeoutMs,
    heartbeat: options.heartbeat,
    maxQueuedMessages: options.maxQueuedMessages,
    async onOpen(link) {
      inHandshake = true;
      try {
        link.send(frame({ type: 'auth', token: await resolveToken(options.token) }));
        const answer = parse(
          await link.waitFor((d) => {
            const t = parse(d)?.type;
            return t === 'auth_ok' || t === 'error';
          }),
        )!;
        if (answer.type === 'error') {
          const error = ClientError.from(answer.data);
          if (typeof options.token === 'string') {
            // a fixed token will not get better by retrying: stop instead of looping
            events.emit('error', error);
            client.close();
          }
          throw error;
        }
        if (answer.type !== 'auth_ok') throw new ClientError('handshake', 'Unexpected answer to auth');
        peerId = answer.peerId;
        address = answer.address;
        events.emit('authenticated', { address, peerId, reconnected: link.reconnected });
        // re-join before the queued frames go out: they are addressed to these rooms
        for (const roomId of [...rooms]) {
          link.send(frame({ type: 'join', roomId }));
          const f = parse(
            await link.waitFor((d) => {
              const g = parse(d);
              return (g?.type === 'joined' && g.roomId === roomId) || g?.type === 'error';
            }),
          );
          // a room that is full now is dropped; the other rooms and the connection carry on
          if (f?.type === 'error') rooms.delete(roomId);
        }
      } finally {
        inHandshake = false;
      }
    },
  });

  socket.on('state', (s) => events.emit('state', s));
  socket.on('error', (e) => events.emit('error', e));
  socket.on('message', (text) => {
    const f = parse(text);
    if (!f) return;
    switch (f.type) {
      case 'joined': {
        const i = pendingJoins.findIndex((p) => p.roomId === f.roomId);
        const pending = i >= 0 ? pendingJoins.splice(i, 1)[0] : undefined;
        pending?.resolve(f.peers);
        events.emit('joined', { roomId: f.roomId, peerId: f.peerId, peers: f.peers, rejoined: !pending });
        break;
      }
      case 'peer_joined':
        events.emit('peer_joined', { roomId: f.roomId, peer: f.peer });
        break;
      case 'peer_left':
        if (f.peerId === peerId && rooms.has(f.roomId)) {
          // our membership lapsed (e.g. a long pause): take the seat again
          socket.send(frame({ type: 'join', roomId: f.roomId }));
          break;
        }
        events.emit('peer_left', { roomId: f.roomId, peerId: f.peerId });
        break;
      case 'offer':
      case 'answer':
      case 'ice':
        events.emit('signal', {
          type: f.type,
          roomId: f.roomId,
          from: f.from,
          fromAddress: f.fromAddress,
          data: f.data,
        });
        break;
      case 'end':
        events.emit('end', { roomId: f.roomId, from: f.from, fromAddress: f.fromAddress });
        break;
      case 'error': {
        const error = ClientError.from(f.data);
        if (JOIN_ERRORS.has(error.code) && pendingJoins.length > 0) {
          const p = pendingJoins.shift()!;
          rooms.delete(p.roomId);
          p.reject(error);
        }
        if (!inHandshake) events.emit('error', error);
        break;
      }
    }
  });

  const offRefresh = onTokenRefresh(options.token, (token) => {
    // re-authenticate the live connection before the server's sweep closes it at expiry
    if (socket.state === 'open') socket.send(frame({ type: 'auth', token }));
  });

  const client: SignalingClient = {
    on: events.on,
    once: events.once,
    off: events.off,
    get state() {
      return socket.state;
    },
    get peerId() {
      return peerId;
    },
    get address() {
      return address;
    },
    rooms,
    join(roomId) {
      if (!isValidRoomId(roomId)) {
        return Promise.reject(
          new ClientError(ErrorCode.invalidRoom, 'roomId must be 1-128 of A-Za-z0-9_.:-'),
        );
      }
      if (socket.state === 'closed') return Promise.reject(new ClientError('closed', 'The client is closed'));
      return new Promise((resolve, reject) => {
        pendingJoins.push({ roomId, resolve, reject });
        rooms.add(roomId);
        // while reconnecting, the handshake joins every room in `rooms`
        if (socket.state === 'open') socket.send(frame({ type: 'join', roomId }));
      });
    },
    // while disconnected there is nothing to leave: the server dropped the membership with
    // the connection, and the handshake only re-joins what is still in `rooms`
    leave(roomId) {
      if (rooms.delete(roomId) && socket.state === 'open') socket.send(frame({ type: 'leave', roomId }));
    },
    end(roomId) {
      if (rooms.delete(roomId) && socket.state === 'open') socket.send(frame({ type: 'end', roomId }));
    },
    signal(type, roomId, data, to) {
      return socket.send(frame(to ? { type, roomId, data, to } : { type, roomId, data }));
    },
    sendStats(roomId, data) {
      return socket.send(frame({ type: 'stats', roomId, data }));
    },
    reconnect: () => socket.reconnect(),
    close() {
      offRefresh();
      for (const p of pendingJoins.splice(0)) p.reject(new ClientError('closed', 'The client is closed'));
      rooms.clear();
      socket.close();
    },
  };
  // on a microtask, so listeners added right after creation see the first transition
  queueMicrotask(() => socket.connect());
  return client;
}
