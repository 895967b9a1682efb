import type { Engine } from '../engine/types.js';
import { inSlices, SLICE } from '../limits/slices.js';
import type { Logger } from '../observability/logger.js';
import { memberOf, parseMember, ROOM_INDEX_KEY, roomChannel, roomKey } from './bus.js';
import type { SignalingMetrics } from './metrics.js';
import type { Rooms } from './rooms.js';

/**
 * Liveness of room membership, run on every heartbeat sweep (WS_HEARTBEAT_INTERVAL):
 *
 * 1. renew the lease of every local peer in every local room (and the room's entry in the
 *    room index), so members whose node still runs never expire;
 * 2. expire the members of those rooms whose leases ran out: peers of a node that died.
 *    leaseExpire is atomic, so when several nodes sweep one room each dead peer is
 *    reported by exactly one of them, and every node then sends `peer_left` once;
 * 3. expire the room index: a room no node renewed for a lease lifetime has no live node
 *    left, and its lease set is emptied so Redis does not keep it forever.
 */
export function createMembershipSweep(options: {
  engine: Engine;
  rooms: Rooms;
  logger: Logger;
  metrics: SignalingMetrics;
  leaseTtlMs: number;
  /** How long the renewals and expiries may take in all (paced slices: see inSlices). */
  spreadMs: number;
}) {
  const { engine, rooms, logger, metrics, leaseTtlMs, spreadMs } = options;
  let running = false;

  function reportExpired(roomId: string, members: string[]) {
    const room = rooms.rooms.get(roomId);
    for (const raw of members) {
      const p = parseMember(raw);
      if (!p) continue;
      metrics.left.inc({ reason: 'expired' });
      const event = { kind: 'leave' as const, origin: engine.instanceId, ...p };
      if (room) rooms.deliverEvent(room, event);
      void rooms.publish({ channel: roomChannel(roomId) }, event);
    }
  }

  async function sweep(): Promise<void> {
    // a sweep slower than the interval (engine trouble) must not pile up behind itself
    if (running) return;
    running = true;
    try {
      // each promise is handled when created: the slices yield, and a rejection arriving
      // before the Promise.all below must not count as unhandled (that would end the process)
      const handled = <T>(p: Promise<T>) => {
        p.catch(() => {});
        return p;
      };
      const renewals: Promise<void>[] = [];
      const ids: string[] = [];
      // in slices: a sweep over thousands of rooms must not hold up the relays in between
      await inSlices(
        [...rooms.rooms.values()],
        SLICE,
        (room) => {
          if (room.closed) return;
          ids.push(room.id);
          for (const m of room.local.values()) {
            // only admitted peers: a joiner still waiting for the room's join lock holds no lease yet
            if (m.state === 'in')
              renewals.push(
                handled(engine.leaseAdd(room.key, memberOf(m.peer.id, m.peer.address), leaseTtlMs)),
              );
          }
          renewals.push(handled(engine.leaseAdd(ROOM_INDEX_KEY, room.id, leaseTtlMs)));
        },
        { spreadMs: spreadMs / 2 },
      );
      await Promise.all(renewals);
      const expiring: Promise<string[]>[] = [];
      await inSlices(ids, SLICE, (id) => expiring.push(handled(engine.leaseExpire(roomKey(id)))), {
        spreadMs: spreadMs / 2,
      });
      const expired = await Promise.all(expiring);
      for (const [i, id] of ids.entries()) if (expired[i]?.length) reportExpired(id, expired[i]);
      const abandoned = await engine.leaseExpire(ROOM_INDEX_KEY);
      for (const id of abandoned) reportExpired(id, await engine.leaseExpire(roomKey(id)));
      metrics.sweeps.inc();
    } catch (error) {
      metrics.sweepErrors.inc();
      logger.warn({ err: (error as Error).message }, 'signaling membership sweep failed');
    } finally {
      running = false;
    }
  }

  return { sweep };
}
