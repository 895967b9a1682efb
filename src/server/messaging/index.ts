import type { Server as EngineServer } from 'engine.io';
import { checksumCacheStats } from '../../protocol/address.js';
import { ErrorCode } from '../../protocol/errors.js';
import { type ClientToServerEvents, MAX_PRESENCE_SUBSCRIPTIONS } from '../../protocol/messaging.js';
import {
  CallEndSchema,
  CallInviteSchema,
  CallRoomSchema,
  MessageAckSchema,
  MessageReadSchema,
  MessageSendSchema,
  PresenceSetSchema,
  PresenceSubscribeSchema,
  TypingSchema,
} from '../../protocol/messaging.schema.js';
import type { Surface, SurfaceContext } from '../surface.js';
import { createCalls } from './calls.js';
import { subscribeChannels } from './channels.js';
import { createDelivery, DELIVER_CHANNEL, userRoom } from './delivery.js';
import { createEventEdge, type Route, route } from './events.js';
import { createInbox } from './inbox.js';
import { createPresence, presenceRoom } from './presence.js';
import { createTransport, type MsgServer, type MsgSocket } from './transport.js';
import { createTyping } from './typing.js';

export type { MsgServer, MsgSocket } from './transport.js';

/** The messaging surface as embedders (and the shard worker) see it. */
export interface MessagingApi {
  /** The Socket.IO server: emit to a checksummed address (a room) to reach every device of it. */
  readonly io: MsgServer;
  /** Its engine.io server (the shard worker reports sessions from it for sticky routing). */
  readonly engineIo: EngineServer;
}

interface MessagingSurface extends Surface, MessagingApi {
  readonly name: 'messaging';
}

/** Finds the messaging surface among the started ones (for `RealtimeServer.messaging`). */
export function messagingApi(surfaces: readonly Surface[]): MessagingApi {
  const found = surfaces.find((s): s is MessagingSurface => s.name === 'messaging');
  if (!found) throw new Error('the messaging surface is not started');
  return found;
}

/**
 * Messaging on Socket.IO at `/socket.io` (PROTOCOL.md §4): direct messages with an inbox
 * and receipts, presence, typing, call invitations, and the seed's Redis channels.
 *
 * @example
 * const SURFACES = [createMessagingSurface];
 */
export async function createMessagingSurface(ctx: SurfaceContext): Promise<MessagingSurface> {
  const { config, engine, logger: root, metrics, now } = ctx;
  const logger = root.child({ surface: 'messaging' });
  const transport = createTransport(ctx);
  const { io, eio } = transport;
  const inbox = createInbox({
    engine,
    maxLen: config.inboxMax,
    ttlMs: config.inboxTtlSec * 1000,
    notify: DELIVER_CHANNEL,
  });
  const delivery = createDelivery({
    engine,
    inbox,
    io,
    writable: transport.writable,
    unsentBytes: transport.unsentBytes,
    sendBufferBytes: config.sendBufferBytes,
    logger,
    metrics,
    now,
    maxPending: config.inboxMax,
    recoveryMs: config.recoveryMs,
  });
  // a Redis outage can swallow live copies: devices re-read their inboxes when it is back
  const offReconnect = engine.onReconnect(() => delivery.resyncAll());
  const presence = createPresence({ engine, io, logger, metrics, now, leaseMs: config.presenceLeaseMs });
  const typing = createTyping({ io, metrics, now, timeoutMs: config.typingTimeoutMs, maxTimers: 100_000 });
  const calls = createCalls({
    engine,
    io,
    logger,
    metrics,
    now,
    ringTimeoutMs: config.callRingTimeoutMs,
    leftGraceMs: config.callLeftGraceMs,
    hasDevices: (address) => presence.hasDevices(address),
    maxTimers: 100_000,
  });
  const addressOf = (socket: MsgSocket) => socket.data.address;
  const edge = createEventEdge({
    metrics,
    logger,
    now,
    rateLimit: config.rateLimit,
    rateBurst: config.rateBurst,
    routes: {
      'message:send': route(MessageSendSchema, (socket, p) => delivery.send(addressOf(socket), p)),
      'message:ack': route(MessageAckSchema, async (socket, p) => ({
        ok: true,
        removed: await delivery.ack(addressOf(socket), p.ids),
      })),
      'message:read': route(MessageReadSchema, (socket, p) => {
        delivery.read(addressOf(socket), p.from, p.ids);
        return undefined;
      }),
      'presence:update': route(PresenceSetSchema, async (socket, p) => {
        await presence.set(addressOf(socket), p.status);
        return undefined;
      }),
      'presence:subscribe': route(PresenceSubscribeSchema, async (socket, p) => {
        let subscribed = 0;
        for (const r of socket.rooms) if (r.startsWith('p:')) subscribed++;
        const fresh = p.addresses.filter((a) => !socket.rooms.has(presenceRoom(a)));
        if (subscribed + fresh.length > MAX_PRESENCE_SUBSCRIPTIONS) {
          return {
            ok: false,
            error: {
              code: ErrorCode.badRequest,
              message: `At most ${MAX_PRESENCE_SUBSCRIPTIONS} presence subscriptions per connection`,
            },
          };
        }
        return { ok: true, presence: await presence.subscribe(socket, p.addresses) };
      }),
      'presence:unsubscribe': route(PresenceSubscribeSchema, (socket, p) => {
        presence.unsubscribe(socket, p.addresses);
        return undefined;
      }),
      'typing:start': route(TypingSchema, (socket, p) => {
        typing.start(socket, p.conversationId);
        return undefined;
      }),
      'typing:stop': route(TypingSchema, (socket, p) => {
        typing.stop(socket, p.conversationId);
        return undefined;
      }),
      'call:invite': route(CallInviteSchema, (socket, p) => calls.invite(socket, p)),
      'call:accepted': route(CallRoomSchema, (socket, p) => calls.accept(socket, p.roomId)),
      'call:rejected': route(CallEndSchema, (socket, p) => calls.reject(socket, p.roomId, p.reason)),
      'call:ended': route(CallEndSchema, (socket, p) => calls.end(socket, p.roomId, p.reason)),
    } satisfies Record<keyof ClientToServerEvents, Route>,
  });
  const connections = metrics.gauge('p3_messaging_connections', 'Socket.IO connections on this node');
  // the checksum cache is the process's (one per process, whatever runs in it)
  metrics.gauge('p3_messaging_address_checksums_cached', 'Payload address checksums kept', [], function () {
    this.set(checksumCacheStats().entries);
  });
  metrics.countOf(
    'p3_messaging_address_checksums_computed_total',
    'Payload address checksums computed (cache misses)',
    () => checksumCacheStats().computed,
  );
  // presence writes of sockets that are leaving; close() waits for them
  const leaving = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const q = p.catch((e) => logger.warn({ err: e }, 'messaging disconnect cleanup failed'));
    leaving.add(q);
    void q.finally(() => leaving.delete(q));
  };

  await delivery.start();
  await presence.start();
  const offChannels = await subscribeChannels({ engine, io, delivery, logger, metrics });

  // one listener for every socket (`this` is the socket): no closure per connection
  function onDisconnect(this: MsgSocket) {
    connections.dec();
    transport.detach(this);
    delivery.detach(this);
    typing.drop(this);
    track(Promise.all([presence.disconnect(this), calls.drop(this)]));
  }

  function onConnection(socket: MsgSocket) {
    const me = socket.data.address;
    connections.inc();
    logger.debug({ address: me, sid: socket.id, recovered: socket.recovered }, 'messaging socket connected');
    edge.attach(socket);
    // joined before the inbox drain starts: no receipt, call or typing event is missed
    socket.join(userRoom(me));

    socket.on('disconnect', onDisconnect);

    track(presence.connect(socket));
    void delivery.attach(socket);
    track(calls.resume(socket));
    if (socket.recovered) track(presence.resend(socket));
    delivery.replayReceipts(socket);
  }
  io.on('connection', onConnection);

  return {
    name: 'messaging',
    io,
    engineIo: eio,
    async close() {
      // sockets first (their leave events still reach other nodes), then our state
      await transport.closeSockets();
      await Promise.allSettled([...leaving]);
      offReconnect();
      typing.close();
      await calls.close();
      await Promise.allSettled([offChannels(), delivery.close(), presence.close()]);
      await transport.release();
    },
  };
}
