import { ErrorCode } from '../../protocol/errors.js';
import { MAX_ROOMS_PER_PEER, type SignalingPeer, type SignalingRelayType } from '../../protocol/signaling.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import { memberOf, parseMember, ROOM_INDEX_KEY, roomKey } from './bus.js';
import { withJoinLock } from './join-lock.js';
import { createLocalRooms, type LocalRoom, type MemberEvent } from './local-rooms.js';
import type { SignalingMetrics } from './metrics.js';
import { type Membership, type Peer, roomsToWrite } from './peer.js';

export type LeaveReason = 'leave' | 'end' | 'disconnect';

export interface RoomsOptions {
  engine: Engine;
  logger: Logger;
  metrics: SignalingMetrics;
  maxPeers: number;
  /** Membership lease: a peer whose node stops renewing leaves after this. */
  leaseTtlMs: number;
}

/**
 * What a peer does with rooms: join (with the room-size check), relay, leave. Membership
 * lives in the engine (a lease set per room), so peers of one room may sit on different
 * nodes; relays to peers on this node go straight to their sockets, and to the room channel
 * only when some peer the sender knows of is elsewhere.
 */
export function createRooms(options: RoomsOptions) {
  const { engine, metrics, maxPeers, leaseTtlMs } = options;
  const local = createLocalRooms(options);
  const {
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
  } = local;

  const member = (peer: Peer) => memberOf(peer.id, peer.address);

  async function join(peer: Peer, roomId: string): Promise<void> {
    const current = peer.rooms.get(roomId);
    if (current) {
      // joining again is harmless: answer with who is there now
      const peers = await peersOf(roomId, peer.id);
      for (const p of peers) current.known.add(p.peerId);
      peer.conn.send({ type: 'joined', roomId, peerId: peer.id, peers });
      return;
    }
    if (peer.rooms.size >= MAX_ROOMS_PER_PEER) {
      peer.conn.error(ErrorCode.roomFull, `A connection may be in at most ${MAX_ROOMS_PER_PEER} rooms`);
      return;
    }
    const room = open(roomId);
    const m: Membership = {
      peer,
      roomId,
      state: 'joining',
      admitted: false,
      known: new Set(),
      backlog: [],
      relayHead: undefined,
    };
    roomsToWrite(peer).set(roomId, m);
    room.pending++;
    const gone = () => m.state === 'gone' || peer.closed;
    try {
      await room.ready;
      if (gone()) return;
      room.local.set(peer.id, m);
      const locked = await withJoinLock(engine, roomId, `${self} ${peer.id}`, async () => {
        const present = toPeers(await engine.leaseMembers(room.key), peer.id);
        if (present.length >= maxPeers) return null;
        await engine.leaseAdd(room.key, member(peer), leaseTtlMs);
        m.admitted = true;
        return present;
      });
      if (gone()) {
        // disconnected while joining: if admitted, a joiner elsewhere may already list it
        const announce = m.admitted && m.state !== 'gone';
        detach(room, m);
        await removeAndAnnounce(room, peer, announce);
        return;
      }
      if (!locked.ok || !locked.value) {
        detach(room, m);
        metrics.joins.inc({ result: locked.ok ? 'room_full' : 'busy' });
        if (locked.ok) peer.conn.error(ErrorCode.roomFull, `Room is full (${maxPeers} peers)`);
        else peer.conn.error(ErrorCode.unavailable, 'The room is busy: try joining again');
        return;
      }
      void engine.leaseAdd(ROOM_INDEX_KEY, roomId, leaseTtlMs).catch(() => {});
      const peers = locked.value;
      for (const p of peers) m.known.add(p.peerId);
      m.state = 'in';
      peer.conn.send({ type: 'joined', roomId, peerId: peer.id, peers });
      metrics.joins.inc({ result: 'ok' });
      const backlog = m.backlog;
      m.backlog = [];
      for (const item of backlog) {
        if (typeof item === 'string') peer.conn.sendText(item);
        else deliverTo(room, m, item);
      }
      const event: MemberEvent = { kind: 'join', origin: self, peerId: peer.id, address: peer.address };
      deliverEvent(room, event);
      await publish(room, event);
    } catch (error) {
      if (m.state !== 'gone') {
        detach(room, m);
        await removeAndAnnounce(room, peer, m.admitted).catch(() => {});
      }
      throw error;
    } finally {
      room.pending--;
      closeIfIdle(room);
    }
  }

  async function peersOf(roomId: string, except: string): Promise<SignalingPeer[]> {
    return toPeers(await engine.leaseMembers(roomKey(roomId)), except);
  }

  function toPeers(members: string[], except: string): SignalingPeer[] {
    const peers: SignalingPeer[] = [];
    for (const raw of members) {
      const p = parseMember(raw);
      if (p && p.peerId !== except) peers.push(p);
    }
    return peers;
  }

  function isLocal(room: LocalRoom, peerId: string): boolean {
    const target = room.local.get(peerId);
    return target !== undefined && (target.state === 'in' || target.admitted);
  }

  /** A relayed frame to the room's other nodes (the bus carries text). */
  const publishRelay = (room: LocalRoom, from: string, to: string, frame: string) =>
    publish(room, { kind: 'relay', origin: self, from, to, frame });

  /** The membership a frame needs, or `not_in_room` sent. */
  function membership(peer: Peer, roomId: string): Membership | undefined {
    const m = peer.rooms.get(roomId);
    if (m?.state === 'in') return m;
    peer.conn.error(ErrorCode.notInRoom, `Not in room ${roomId}: join it first`);
    return undefined;
  }

  /**
   * Relays an offer, answer or ice frame. `data` is the parsed payload, serialised here; or,
   * for a frame read by scanRelay, the sender's own bytes of it (`raw[start, end)`), copied
   * into the relayed frame as they are, never parsed.
   */
  function relay(
    peer: Peer,
    type: SignalingRelayType,
    roomId: string,
    to: string | undefined,
    data: unknown,
    raw?: Buffer,
    start = 0,
    end = 0,
  ): void | Promise<void> {
    const m = membership(peer, roomId);
    if (!m) return;
    const room = rooms.get(roomId);
    if (!room) return;
    if (to === peer.id) {
      peer.conn.error(ErrorCode.unknownPeer, 'A peer cannot send to itself');
      return;
    }
    // the part after the type is the same for every relay of this membership: built once
    m.relayHead ??= `","roomId":"${roomId}","from":"${peer.id}","fromAddress":"${peer.address}","data":`;
    const frame = `{"type":"${type}${m.relayHead}${raw ? raw.toString('utf8', start, end) : JSON.stringify(data)}}`;
    if (to) {
      // a local target (also one admitted but still waiting for its `joined`): no engine at all
      if (isLocal(room, to)) {
        deliverRelay(room, peer.id, to, frame);
        metrics.relayedLocal.inc();
        return;
      }
      if (m.known.has(to)) {
        metrics.relayedRemote.inc();
        return publishRelay(room, peer.id, to, frame);
      }
      // a peer we have not heard of yet may have just joined on another node: ask the engine
      return peersOf(roomId, peer.id).then((peers) => {
        if (!peers.some((p) => p.peerId === to)) {
          peer.conn.error(ErrorCode.unknownPeer, `No peer ${to.slice(0, 64)} in room ${roomId}`);
          return;
        }
        if (isLocal(room, to)) {
          deliverRelay(room, peer.id, to, frame);
          metrics.relayedLocal.inc();
          return;
        }
        metrics.relayedRemote.inc();
        return publishRelay(room, peer.id, to, frame);
      });
    }
    deliverRelay(room, peer.id, '', frame);
    metrics.relayedLocal.inc();
    if (hasRemote(room, m)) {
      metrics.relayedRemote.inc();
      return publishRelay(room, peer.id, '', frame);
    }
  }

  /**
   * Removes a peer's lease and announces it in one step: both commands leave in the same
   * tick, so a node shutting down (or a Redis hiccup between two round trips) cannot remove
   * the lease and lose the announcement, which nobody would then repeat. The order matters:
   * a joiner that read the lease before its removal subscribed before that read, so it gets
   * the announcement too. A peer told twice (an expiry sweep racing a leave) is deduplicated
   * by each receiver's `known` set.
   */
  function removeAndAnnounce(room: LocalRoom, peer: Peer, announce: boolean): Promise<unknown> {
    const removed = engine.leaseRemove(room.key, member(peer));
    if (!announce) return removed;
    const event: MemberEvent = { kind: 'leave', origin: self, peerId: peer.id, address: peer.address };
    deliverEvent(room, event);
    return Promise.all([removed, publish(room, event)]);
  }

  /** `leave`, `end` (the others get `end` first) or a disconnect. */
  async function leave(peer: Peer, roomId: string, reason: LeaveReason): Promise<void> {
    const m = reason === 'disconnect' ? peer.rooms.get(roomId) : membership(peer, roomId);
    if (!m) return;
    const room = rooms.get(roomId);
    const wasIn = m.state === 'in';
    if (room) detach(room, m);
    else m.state = 'gone';
    if (!room) return;
    try {
      let ended: Promise<void> | undefined;
      if (reason === 'end' && wasIn) {
        const frame = JSON.stringify({ type: 'end', roomId, from: peer.id, fromAddress: peer.address });
        deliverRelay(room, peer.id, '', frame);
        if (hasRemote(room, m))
          ended = publish(room, { kind: 'relay', origin: self, from: peer.id, to: '', frame });
      }
      // a joiner not yet admitted holds no lease and nobody heard of it: nothing to announce
      const announce = wasIn || m.admitted;
      if (announce) metrics.left.inc({ reason });
      await Promise.all([ended, removeAndAnnounce(room, peer, announce)]);
    } finally {
      closeIfIdle(room);
    }
  }

  async function leaveAll(peer: Peer): Promise<void> {
    peer.closed = true;
    await Promise.allSettled([...peer.rooms.keys()].map((id) => leave(peer, id, 'disconnect')));
  }

  return {
    rooms: rooms as ReadonlyMap<string, LocalRoom>,
    join,
    relay,
    leave,
    leaveAll,
    membership,
    deliverEvent,
    publish,
    close: local.close,
  };
}

export type Rooms = ReturnType<typeof createRooms>;
