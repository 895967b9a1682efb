import type { Address, PresenceState, PresenceStatus } from '../../protocol/messaging.js';
import type { Engine } from '../engine/types.js';
import { inSlices, SLICE } from '../limits/slices.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { MsgServer, MsgSocket } from './transport.js';

/** Redis channel of the seed on which every presence change is published. */
export const PRESENCE_CHANNEL = 'p3:presence';
const NODES = 'presence:nodes';
/** Device leases are a safety net only (a node's devices are removed when it dies): long, renewed rarely. */
const DEVICE_TTL_MS = 24 * 3600_000;
/** How long an address's last state (and lastSeen) is remembered. */
const STATE_TTL_MS = 30 * 24 * 3600_000;

export const presenceRoom = (address: Address) => `p:${address}`;

/**
 * Presence per address, aggregated over devices and nodes through the engine:
 * - `presence:dev:<address>`: lease set of the address's devices (`<node>:<socket>`);
 * - `presence:node:<node>`: the devices each node holds, so a dead node's can be removed;
 * - `presence:nodes`: lease set of live nodes, renewed every lease/3 by each node. Any node
 *   sweeping it gets each expired node exactly once (leaseExpire is atomic) and takes
 *   that node's users offline, with lastSeen, when no other device of theirs remains;
 * - `presence:state:<address>`: the last published state.
 * Renewal is per node, not per device, so its cost does not grow with users.
 */
export function createPresence(deps: {
  engine: Engine;
  io: MsgServer;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  leaseMs: number;
}) {
  const { engine, io, logger, now, leaseMs } = deps;
  const node = engine.instanceId;
  const devKey = (a: Address) => `presence:dev:${a}`;
  const nodeKey = (n: string) => `presence:node:${n}`;
  const stateKey = (a: Address) => `presence:state:${a}`;
  /** This node's messaging sockets: each is a device (no map of our own per socket). */
  const local = () => io.of('/').sockets.values();
  let closed = false;
  const changes = deps.metrics.counter('p3_messaging_presence_changes_total', 'Presence changes published', [
    'status',
  ]);
  const deadNodes = deps.metrics.counter('p3_messaging_dead_nodes_total', 'Expired messaging nodes swept');
  let lastDeviceRenew = 0;
  const sweepMs = Math.max(100, Math.floor(leaseMs / 3));
  let timer: NodeJS.Timeout | undefined;

  async function read(address: Address): Promise<PresenceState> {
    const raw = await engine.get(stateKey(address));
    if (!raw) return { address, status: 'offline', lastSeen: null };
    return { address, ...(JSON.parse(raw) as { status: PresenceStatus; lastSeen: number }) };
  }

  async function publish(address: Address, status: PresenceStatus) {
    const state: PresenceState = { address, status, lastSeen: now() };
    await engine.set(stateKey(address), JSON.stringify({ status, lastSeen: state.lastSeen }), STATE_TTL_MS);
    changes.inc({ status });
    io.to(presenceRoom(address)).emit('presence:update', state);
    await engine.publish(PRESENCE_CHANNEL, JSON.stringify(state));
  }

  /** Offline when no device remains; re-checked after the write, so a device that joined meanwhile wins. */
  async function settle(address: Address) {
    if ((await engine.leaseMembers(devKey(address))).length > 0) return;
    await publish(address, 'offline');
    if ((await engine.leaseMembers(devKey(address))).length > 0) await publish(address, 'online');
  }

  async function sweep() {
    const t = now();
    await engine.leaseAdd(NODES, node, leaseMs);
    if (t - lastDeviceRenew > DEVICE_TTL_MS / 4) {
      lastDeviceRenew = t;
      // every device of the node, a slice per turn, spread over a quarter of the sweep's
      // interval: in one loop, each device's write at once held the event loop (and Redis)
      // for as long as the node has devices
      const renewals: Promise<unknown>[] = [];
      await inSlices(
        io.of('/').sockets,
        SLICE,
        ([, s]) => renewals.push(engine.leaseAdd(devKey(s.data.address), `${node}:${s.id}`, DEVICE_TTL_MS)),
        { spreadMs: sweepMs / 4 },
      );
      // a renewal that failed has three more chances before its lease (24 h) runs out; the
      // dead nodes below are still looked at
      const failed = countFailed(await Promise.allSettled(renewals));
      if (failed > 0) logger.warn({ failed, devices: renewals.length }, 'presence: device renewals failed');
    }
    for (const dead of await engine.leaseExpire(NODES)) {
      deadNodes.inc();
      const held = Object.entries(await engine.hgetall(nodeKey(dead)));
      const addresses = new Set<Address>();
      // a dead node may have held every user of a cluster: its devices go a slice per turn,
      // and its users are settled a slice at a time (each is two to four engine round
      // trips), never all at once in one turn. The node has left the lease set, so no later
      // sweep comes back to it: a failed step is counted and the rest still go.
      const removals: Promise<unknown>[] = [];
      await inSlices(held, SLICE, ([sid, a]) => {
        addresses.add(a as Address);
        removals.push(engine.leaseRemove(devKey(a as Address), `${dead}:${sid}`));
      });
      let failed = countFailed(await Promise.allSettled(removals));
      const users = [...addresses];
      for (let i = 0; i < users.length; i += SLICE) {
        failed += countFailed(await Promise.allSettled(users.slice(i, i + SLICE).map(settle)));
      }
      await engine.del(nodeKey(dead)).catch(() => failed++);
      if (failed > 0) {
        logger.warn(
          { node: dead, users: addresses.size, failed },
          'messaging node expired: some steps failed',
        );
      } else logger.info({ node: dead, users: addresses.size }, 'messaging node expired: its users settled');
    }
  }

  return {
    async start() {
      await engine.leaseAdd(NODES, node, leaseMs);
      // a device's lease is new when it connects: the first renewal is due a quarter of its
      // lifetime after start, not at the first sweep
      lastDeviceRenew = now();
      timer = setInterval(
        () => void sweep().catch((e) => logger.warn({ err: e }, 'presence sweep failed')),
        sweepMs,
      );
      timer.unref();
    },

    async connect(socket: MsgSocket) {
      const address = socket.data.address;
      await Promise.all([
        engine.hset(nodeKey(node), { [socket.id]: address }),
        engine.leaseAdd(devKey(address), `${node}:${socket.id}`, DEVICE_TTL_MS),
      ]);
      const prev = await read(address);
      if (prev.status === 'offline') await publish(address, 'online');
    },

    async disconnect(socket: MsgSocket) {
      // after close() this node's devices were already removed
      if (closed) return;
      const address = socket.data.address;
      await Promise.all([
        engine.hdel(nodeKey(node), socket.id),
        engine.leaseRemove(devKey(address), `${node}:${socket.id}`),
      ]);
      await settle(address);
    },

    /** Whether any device of the address is connected, on any node. */
    async hasDevices(address: Address): Promise<boolean> {
      return (await engine.leaseMembers(devKey(address))).length > 0;
    },

    /** A device set the address's status (online, away, busy): the last one set wins. */
    async set(address: Address, status: Exclude<PresenceStatus, 'offline'>) {
      await publish(address, status);
    },

    /** Joins the rooms of `addresses` first, then reads: a change in between is not missed. */
    async subscribe(socket: MsgSocket, addresses: Address[]): Promise<PresenceState[]> {
      socket.join(addresses.map(presenceRoom));
      return Promise.all(addresses.map(read));
    },

    /**
     * A recovered socket gets the current state of what it watches: Socket.IO's recovery
     * can miss an event emitted in the instant between its stream read and the rejoin.
     */
    async resend(socket: MsgSocket) {
      const watched = [...socket.rooms].filter((r) => r.startsWith('p:')).map((r) => r.slice(2) as Address);
      for (const state of await Promise.all(watched.map(read))) socket.emit('presence:update', state);
    },

    unsubscribe(socket: MsgSocket, addresses: Address[]) {
      for (const a of addresses) socket.leave(presenceRoom(a));
    },

    /** Graceful stop: this node's devices leave now rather than when its lease runs out. */
    async close() {
      clearInterval(timer);
      closed = true;
      const sockets = [...local()];
      const addresses = new Set(sockets.map((s) => s.data.address));
      await Promise.all(sockets.map((s) => engine.leaseRemove(devKey(s.data.address), `${node}:${s.id}`)));
      await engine.del(nodeKey(node));
      await engine.leaseRemove(NODES, node);
      await Promise.all([...addresses].map(settle));
    },
  };
}

export type Presence = ReturnType<typeof createPresence>;

const countFailed = (results: PromiseSettledResult<unknown>[]) =>
  results.reduce((n, r) => (r.status === 'rejected' ? n + 1 : n), 0);
