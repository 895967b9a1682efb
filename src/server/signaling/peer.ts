import type { WsConnection } from '../ws/endpoint.js';

/** The peer's membership of one room on this node. */
export interface Membership {
  readonly peer: Peer;
  readonly roomId: string;
  /** joining: between `join` and `joined`; in: relays flow; gone: left, lapsed or disconnected. */
  state: 'joining' | 'in' | 'gone';
  /**
   * Peers this client has been told about (the `joined` list, then `peer_joined`), so each
   * `peer_joined` / `peer_left` reaches it once even when events race with its join.
   * At most P3_ROOM_MAX_PEERS entries.
   */
  readonly known: Set<string>;
  /** Past the room-size check: its lease exists and other peers may already address it. */
  admitted: boolean;
  /**
   * What arrived while joining, in order, delivered right after `joined`: join/leave events,
   * and (once admitted) relayed frames, already serialised.
   */
  backlog: ({ kind: 'join' | 'leave'; peerId: string; address: string } | string)[];
  /** What every relayed frame of this membership holds between its type and its data (built on the first relay). */
  relayHead: string | undefined;
}

/** One authenticated signaling connection. */
export interface Peer {
  readonly id: string;
  /** EIP-55, from the verified token. */
  readonly address: string;
  readonly conn: WsConnection;
  /** At most MAX_ROOMS_PER_PEER; one shared empty map until the first join (idle peers cost no map). */
  rooms: Map<string, Membership>;
  closed: boolean;
  /** The frame being handled while it waits on the engine; later frames queue behind it. */
  tail: Promise<void> | undefined;
  queued: number;
}

/** The rooms of every peer that never joined one: read-only by convention (see `roomsToWrite`). */
const NO_ROOMS: Map<string, Membership> = new Map();

export function createPeer(conn: WsConnection, address: string): Peer {
  return { id: conn.id, address, conn, rooms: NO_ROOMS, closed: false, tail: undefined, queued: 0 };
}

/** The peer's own room map, created on its first join. */
export function roomsToWrite(peer: Peer): Map<string, Membership> {
  if (peer.rooms === NO_ROOMS) peer.rooms = new Map();
  return peer.rooms;
}

/**
 * Runs a peer's frames in order. A frame that needs the engine (join, leave, a relay whose
 * target must be looked up) makes the frames after it wait, so `join` then `offer` sent
 * back to back behave as sent; frames that need nothing run at once, with no promise and
 * no closure (the task gets the peer and two arguments).
 * Returns false when `maxQueued` frames already wait (the caller answers `rate_limited`).
 */
export function runInOrder<A, B>(
  peer: Peer,
  task: (peer: Peer, a: A, b: B) => void | Promise<void>,
  maxQueued: number,
  onError: (error: unknown, peer: Peer) => void,
  a?: A,
  b?: B,
): boolean {
  if (peer.closed) return true;
  if (peer.queued >= maxQueued) return false;
  peer.queued++;
  if (!peer.tail) {
    // the common case (a relay): run now, with the arguments as given, no closure per frame
    let result: void | Promise<void>;
    try {
      result = task(peer, a as A, b as B);
    } catch (error) {
      peer.queued--;
      onError(error, peer);
      return true;
    }
    if (!(result instanceof Promise)) {
      peer.queued--;
      return true;
    }
    queue(peer, result, onError);
    return true;
  }
  queue(
    peer,
    peer.tail.then(() => (peer.closed ? undefined : task(peer, a as A, b as B))),
    onError,
  );
  return true;
}

/** `work` becomes the peer's tail: later frames wait for it; it leaves the queue when settled. */
function queue(peer: Peer, work: Promise<void>, onError: (error: unknown, peer: Peer) => void): void {
  const t: Promise<void> = work
    .catch((error) => onError(error, peer))
    .finally(() => {
      peer.queued--;
      if (peer.tail === t) peer.tail = undefined;
    });
  peer.tail = t;
}
