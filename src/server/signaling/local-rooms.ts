import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import { type BusEvent, decodeBusEvent, encodeBusEvent, roomChannel, roomKey } from './bus.js';
import type { SignalingMetrics } from './metrics.js';
import type { Membership } from './peer.js';

export type MemberEvent = Extract<BusEvent, { kind: 'join' | 'leave' }>;

/** A room as this node sees it: its local peers, and the engine channel it listens to. */
export interface LocalRoom {
  readonly id: string;
  readonly key: string;
  readonly channel: string;
  readonly local: Map<string, Membership>;
  /** Joins in flight (the room stays subscribed while any is). */
  pending: number;
  /** Resolves once the channel subscription is active. */
  ready: Promise<void>;
  unsubscribe: (() => Promise<void>) | undefined;
  closed: boolean;
}

/** Events kept for a peer while it joins; more than this in a few ms means a flood. */
const MAX_BACKLOG = 256;

/**
 * The rooms that have a peer on this node: their channel subscriptions (open while a local
 * peer is in or joining), what other nodes publish on them, and the fan-out to local peers.
 */
export function createLocalRooms(options: { engine: Engine; logger: Logger; metrics: SignalingMetrics }) {
  const { engine, logger, metrics } = options;
  const self = engine.instanceId;
  /** Bounded by the peers' rooms (each peer at most MAX_ROOMS_PER_PEER). */
  const rooms = new Map<string, LocalRoom>();

  const publish = (room: { channel: string }, event: BusEvent) =>
    engine.publish(room.channel, encodeBusEvent(event)).catch((error) => {
      metrics.busErrors.inc();
      logger.warn({ err: (error as Error).message, channel: room.channel }, 'signaling publish failed');
    });

  function open(roomId: string): LocalRoom {
    const existing = rooms.get(roomId);
    if (existing && !existing.closed) return existing;
    const room: LocalRoom = {
      id: roomId,
      key: roomKey(roomId),
      channel: roomChannel(roomId),
      local: new Map(),
      pending: 0,
      ready: Promise.resolve(),
      unsubscribe: undefined,
      closed: false,
    };
    room.ready = engine
      .subscribe(room.channel, (text) => onBus(room, text))
      .then((unsubscribe) => {
        room.unsubscribe = unsubscribe;
      });
    rooms.set(roomId, room);
    return room;
  }

  function closeIfIdle(room: LocalRoom) {
    if (room.closed || room.local.size > 0 || room.pending > 0) return;
    room.closed = true;
    if (rooms.get(room.id) === room) rooms.delete(room.id);
    room.ready
      .then(() => room.unsubscribe?.())
      .catch((error) => logger.warn({ err: (error as Error).message }, 'signaling unsubscribe failed'));
  }

  function onBus(room: LocalRoom, text: string) {
    const event = decodeBusEvent(text);
    if (!event) {
      metrics.busIn.inc({ kind: 'malformed' });
      return;
    }
    if (event.origin === self) return; // handled locally before it was published
    metrics.busIn.inc({ kind: event.kind });
    if (event.kind === 'relay') deliverRelay(room, event.from, event.to, event.frame);
    else deliverEvent(room, event);
  }

  function deliverRelay(room: LocalRoom, from: string, to: string, frame: string) {
    if (to) {
      const target = room.local.get(to);
      if (target) sendOrHold(target, frame);
      return;
    }
    for (const m of room.local.values()) if (m.peer.id !== from) sendOrHold(m, frame);
  }

  /**
   * A peer admitted on this node may be addressed by a peer of another node (which already
   * saw its lease) a moment before it has its `joined`: hold the frame until then.
   */
  function sendOrHold(m: Membership, frame: string) {
    if (m.state === 'in') m.peer.conn.sendText(frame);
    else if (m.state === 'joining' && m.admitted) hold(m, frame);
  }

  function hold(m: Membership, item: Membership['backlog'][number]) {
    if (m.backlog.length < MAX_BACKLOG) m.backlog.push(item);
    else metrics.backlogDropped.inc();
  }

  /** Tells this node's peers of the room that someone joined or left (each frame built once). */
  function deliverEvent(room: LocalRoom, event: MemberEvent) {
    let text: string | undefined;
    for (const m of [...room.local.values()]) {
      if (m.peer.id === event.peerId) {
        // our own peer reported gone by the engine: its lease lapsed (stalled node, Redis outage)
        if (event.kind === 'leave' && m.state === 'in') lapse(room, m);
        continue;
      }
      if (m.state === 'joining') {
        hold(m, event);
        continue;
      }
      if (m.state !== 'in') continue;
      if (event.kind === 'join' ? m.known.has(event.peerId) : !m.known.has(event.peerId)) continue;
      if (event.kind === 'join') {
        m.known.add(event.peerId);
        text ??= JSON.stringify({
          type: 'peer_joined',
          roomId: room.id,
          peer: { peerId: event.peerId, address: event.address },
        });
      } else {
        m.known.delete(event.peerId);
        text ??= JSON.stringify({ type: 'peer_left', roomId: room.id, peerId: event.peerId });
      }
      m.peer.conn.sendText(text);
    }
  }

  function detach(room: LocalRoom, m: Membership) {
    m.state = 'gone';
    if (m.peer.rooms.get(room.id) === m) m.peer.rooms.delete(room.id);
    if (room.local.get(m.peer.id) === m) room.local.delete(m.peer.id);
  }

  /** Tells a peer whose lease ran out that it is out of the room (it may join again). */
  function lapse(room: LocalRoom, m: Membership) {
    detach(room, m);
    metrics.left.inc({ reason: 'lapsed' });
    m.peer.conn.send({ type: 'peer_left', roomId: room.id, peerId: m.peer.id });
    closeIfIdle(room);
  }

  /** Whether a relay from `m` must also go to other nodes. */
  function hasRemote(room: LocalRoom, m: Membership): boolean {
    for (const id of m.known) if (room.local.get(id)?.state !== 'in') return true;
    return false;
  }

  /** Applies one backlog event to one peer (the same rule as deliverEvent). */
  function deliverTo(
    room: LocalRoom,
    m: Membership,
    event: MemberEvent | Exclude<Membership['backlog'][number], string>,
  ) {
    if (event.kind === 'join' && !m.known.has(event.peerId)) {
      m.known.add(event.peerId);
      m.peer.conn.send({
        type: 'peer_joined',
        roomId: room.id,
        peer: { peerId: event.peerId, address: event.address },
      });
    } else if (event.kind === 'leave' && m.known.delete(event.peerId)) {
      m.peer.conn.send({ type: 'peer_left', roomId: room.id, peerId: event.peerId });
    }
  }

  return {
    rooms,
    self,
    publish,
    open,
    closeIfIdle,
    deliverRelay,
    deliverEvent,
    deliverTo,
    detach,
    hasRemote,
    async close() {
      await Promise.allSettled(
        [...rooms.values()].map(async (room) => {
          room.closed = true;
          await room.ready;
          await room.unsubscribe?.();
        }),
      );
      rooms.clear();
    },
  };
}

export type LocalRooms = ReturnType<typeof createLocalRooms>;
