import { ErrorCode, RATE_LIMIT_MESSAGE } from '../../protocol/errors.js';
import {
  SIGNALING_PATH,
  SIGNALING_PUBLIC_TYPES,
  type SignalingClientFrame,
} from '../../protocol/signaling.js';
import { parseSignalingFrame, SignalingAuthFrameSchema } from '../../protocol/signaling.schema.js';
import type { Surface, SurfaceContext } from '../surface.js';
import { type AuthRequest, createWsEndpoint, type WsConnection } from '../ws/endpoint.js';
import { createSignalingMetrics } from './metrics.js';
import { createPeer, type Peer, runInOrder } from './peer.js';
import { type ScannedRelay, scanRelay } from './relay-scan.js';
import { createRooms } from './rooms.js';
import { recordCallStats } from './stats.js';
import { createMembershipSweep } from './sweep.js';

/** Frames of one connection that may wait behind an engine round trip. */
const MAX_QUEUED_FRAMES = 256;

/** The SIWE message's address line (EIP-4361: the line after the domain's request line). */
const SIWE_ADDRESS_LINE = /^(0x[0-9a-fA-F]{40})$/m;

/**
 * §3 WebSocket `/signaling`: rooms in the engine, relays between nodes on per-room channels,
 * membership leases renewed by the heartbeat sweep, call-quality intake.
 */
export function createSignalingSurface(ctx: SurfaceContext): Surface {
  const { config, engine, logger, now } = ctx;
  const log = logger.child({ surface: 'signaling' });
  const metrics = createSignalingMetrics(ctx.metrics);
  const leaseTtlMs = Math.max(config.heartbeatTimeoutMs, config.heartbeatIntervalMs * 2);
  const rooms = createRooms({ engine, logger: log, metrics, maxPeers: config.roomMaxPeers, leaseTtlMs });
  // paced over a quarter of the interval, as the ping walk is (the renewals are writes too)
  const membership = createMembershipSweep({
    engine,
    rooms,
    logger: log,
    metrics,
    leaseTtlMs,
    spreadMs: config.heartbeatIntervalMs / 4,
  });
  /** One per authenticated connection (bounded by the endpoint's connection caps). */
  const peers = new Map<string, Peer>();
  /** Leaves in flight, awaited on close so peers on other nodes hear of them. */
  const leaving = new Set<Promise<void>>();

  ctx.metrics.gauge('p3_signaling_rooms', 'Rooms with a peer on this node', [], function () {
    this.set(rooms.rooms.size);
  });
  ctx.metrics.gauge('p3_signaling_memberships', 'Room memberships of peers on this node', [], function () {
    let n = 0;
    for (const p of peers.values()) n += p.rooms.size;
    this.set(n);
  });

  function authFrame(frame: Record<string, unknown>): AuthRequest | null {
    const r = SignalingAuthFrameSchema.safeParse(frame);
    if (!r.success) return null;
    if ('token' in r.data) return { token: r.data.token };
    const { address, message, signature } = r.data;
    // the seed sends the address too: a frame naming someone else than its message is malformed
    if (address !== undefined) {
      const signed = SIWE_ADDRESS_LINE.exec(message)?.[1];
      if (!signed || signed.toLowerCase() !== address.toLowerCase()) return null;
    }
    return { message, signature };
  }

  function frameFailed(error: unknown, peer: Peer) {
    log.error({ err: error, peerId: peer.id }, 'signaling frame failed');
    peer.conn.error(ErrorCode.internal, 'The server could not process this frame');
  }

  function handle(peer: Peer, frame: Exclude<SignalingClientFrame, { type: 'auth' }>): void | Promise<void> {
    switch (frame.type) {
      case 'join':
        return rooms.join(peer, frame.roomId);
      case 'offer':
      case 'answer':
      case 'ice':
        return rooms.relay(peer, frame.type, frame.roomId, frame.to, frame.data);
      case 'end':
      case 'leave':
        return rooms.leave(peer, frame.roomId, frame.type);
      case 'stats':
        if (rooms.membership(peer, frame.roomId)) recordCallStats(metrics, frame.data);
        return;
      case 'heartbeat':
      case 'ping':
        return;
    }
  }

  function onFrame(conn: WsConnection, raw: Record<string, unknown> & { type: string }) {
    if (raw.type === 'heartbeat' || raw.type === 'ping') {
      conn.sendText(`{"type":"pong","serverTime":${now()}}`);
      return;
    }
    const parsed = parseSignalingFrame(raw);
    if (!parsed.ok) {
      conn.error(parsed.code, parsed.message);
      return;
    }
    const peer = peers.get(conn.id);
    if (!peer) {
      conn.error(ErrorCode.notAuthenticated, 'Authenticate first');
      return;
    }
    const accepted = runInOrder(peer, handle, MAX_QUEUED_FRAMES, frameFailed, parsed.frame, undefined);
    if (!accepted) overflow(conn);
  }

  const relayScanned = (peer: Peer, r: ScannedRelay, bytes: Buffer) =>
    rooms.relay(peer, r.type, r.roomId, r.to, undefined, bytes, r.dataStart, r.dataEnd);

  /**
   * A relay frame as the SDK writes it goes from its bytes to the relayed frame without
   * JSON.parse (relay-scan.ts) when it runs now; anything else, or a frame that must wait
   * behind a join, takes the parsing path.
   */
  function rawFrame(conn: WsConnection, bytes: Buffer): boolean {
    const peer = peers.get(conn.id);
    if (!peer || peer.tail !== undefined || peer.closed) return false;
    const r = scanRelay(bytes);
    if (!r) return false;
    // nothing waits, so it runs at once (the scan result is read before anything awaits)
    if (!runInOrder(peer, relayScanned, MAX_QUEUED_FRAMES, frameFailed, r, bytes)) overflow(conn);
    return true;
  }

  function overflow(conn: WsConnection) {
    metrics.queueOverflow.inc();
    conn.error(ErrorCode.rateLimited, RATE_LIMIT_MESSAGE);
  }

  const endpoint = createWsEndpoint(ctx, {
    path: SIGNALING_PATH,
    surface: 'signaling',
    authFrame,
    publicTypes: [...SIGNALING_PUBLIC_TYPES],
    onAuthenticated(conn) {
      const identity = conn.identity!;
      if (!peers.has(conn.id)) peers.set(conn.id, createPeer(conn, identity.address));
      conn.send({
        type: 'auth_ok',
        address: identity.address,
        peerId: conn.id,
        expiresAt: identity.expiresAt,
      });
    },
    onFrame,
    rawFrame,
    onClose(conn) {
      const peer = peers.get(conn.id);
      if (!peer) return;
      peers.delete(conn.id);
      const done = rooms.leaveAll(peer).finally(() => leaving.delete(done));
      leaving.add(done);
      return done;
    },
    onSweep: () => membership.sweep(),
  });

  return {
    name: 'signaling',
    async close() {
      await endpoint.close();
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref());
      await Promise.race([Promise.allSettled([...leaving]), deadline]);
      await rooms.close();
    },
  };
}
