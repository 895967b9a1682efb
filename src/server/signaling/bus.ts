/**
 * What nodes tell each other about a room, on the engine channel of that room.
 *
 * Why one channel per room (not per node): a node subscribes only while it has peers in
 * the room, so a relay is one PUBLISH with no membership lookup to find the target's
 * node, and join/leave events reach exactly the nodes that have someone to tell. Rooms
 * are small (P3_ROOM_MAX_PEERS), so a relay reaches at most a handful of nodes.
 *
 * Messages are newline-separated text, not JSON: the relayed frame is already serialised
 * once for local peers and travels as is (JSON text never holds a raw newline; peer ids,
 * node ids and addresses never hold one either).
 */

export type BusEvent =
  /** `frame` is the serialised frame; `to` empty: every local peer of the room but `from`. */
  | { kind: 'relay'; origin: string; from: string; to: string; frame: string }
  | { kind: 'join'; origin: string; peerId: string; address: string }
  | { kind: 'leave'; origin: string; peerId: string; address: string };

const KIND = { relay: 'R', join: 'J', leave: 'L' } as const;

export const roomChannel = (roomId: string) => `p3:signaling:room:${roomId}`;
/** The lease set of a room's members (the engine prefixes keys). */
export const roomKey = (roomId: string) => `signaling:room:${roomId}`;
/** Lease set of the rooms some node still renews: finds rooms whose every node died. */
export const ROOM_INDEX_KEY = 'signaling:rooms';

/** A lease member: `<peerId> <address>` (so `joined` lists addresses without a second read). */
export const memberOf = (peerId: string, address: string) => `${peerId} ${address}`;

export function parseMember(member: string): { peerId: string; address: string } | null {
  const i = member.indexOf(' ');
  if (i <= 0) return null;
  return { peerId: member.slice(0, i), address: member.slice(i + 1) };
}

export function encodeBusEvent(e: BusEvent): string {
  if (e.kind === 'relay') return `${KIND.relay}\n${e.origin}\n${e.from}\n${e.to}\n${e.frame}`;
  return `${KIND[e.kind]}\n${e.origin}\n${e.peerId}\n${e.address}`;
}

/** null for anything malformed (another version, or junk published on the channel). */
export function decodeBusEvent(text: string): BusEvent | null {
  const a = text.indexOf('\n');
  const b = text.indexOf('\n', a + 1);
  const c = text.indexOf('\n', b + 1);
  if (a !== 1 || b < 0 || c < 0) return null;
  const origin = text.slice(a + 1, b);
  const first = text.slice(b + 1, c);
  const kind = text[0];
  if (kind === KIND.relay) {
    const d = text.indexOf('\n', c + 1);
    if (d < 0) return null;
    return { kind: 'relay', origin, from: first, to: text.slice(c + 1, d), frame: text.slice(d + 1) };
  }
  if (kind === KIND.join || kind === KIND.leave) {
    const address = text.slice(c + 1);
    if (!first || !address || address.includes('\n')) return null;
    return { kind: kind === KIND.join ? 'join' : 'leave', origin, peerId: first, address };
  }
  return null;
}
