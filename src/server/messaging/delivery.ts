import { ErrorCode } from '../../protocol/errors.js';
import { type Ack, type Address, type DirectMessage, MAX_CONTENT_BYTES } from '../../protocol/messaging.js';
import { compareStreamIds, type Engine, parseStreamId } from '../engine/types.js';
import { Turns } from '../limits/turns.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { type Inbox, parseNotice, previousId } from './inbox.js';
import { KeptReceipts, type Receipt } from './kept-receipts.js';
import type { MsgServer, MsgSocket } from './transport.js';

/** Internal channel on which the inbox announces stored messages to every node (see Inbox). */
export const DELIVER_CHANNEL = 'p3:internal:dm';
/**
 * Internal channel of delivery receipts, published by the inbox's removal itself:
 * `[[to, [id, …], { by, timestamp }], …]` (see Inbox.remove).
 */
const RECEIPT_CHANNEL = 'p3:internal:receipts';
/**
 * Receipts each node keeps for senders that come back through connection-state recovery
 * (as many as the Socket.IO adapter stream keeps of room events).
 */
const KEPT_RECEIPTS = 10_000;
/** …and at most this many message ids in them (a receipt may name up to 1,000). */
const KEPT_RECEIPT_IDS = 50_000;
/** Replayed receipts start this much before a recovered session left (clock skew between nodes). */
const REPLAY_SLACK_MS = 1_000;

/** socket.io-parser's EVENT packet type. */
const EVENT_PACKET = 2;
/** How long an inbox drain waits for a reader to take what was sent. */
const DRAIN_TIMEOUT_MS = 10_000;
const SYNC_PAGE = 100;
/** Inbox pages read at once by the drains of one node (see readPage). */
const PAGES_AT_ONCE = 256;
/** How long one inbox page read may take before its drain gives up (and its turn). */
const PAGE_READ_TIMEOUT_MS = 30_000;

/** One connected device of this node. */
interface Device {
  socket: MsgSocket;
  /** Draining the inbox: live messages wait in `pending` meanwhile. */
  syncing: boolean;
  /** Greatest id the inbox drain delivered: live copies at or below it were already sent. */
  cursor: string;
  /** Created with the first message held back (most devices never need one). */
  pending: DirectMessage[] | undefined;
  /** `pending` overflowed: drain the inbox once more instead. */
  overflow: boolean;
  /**
   * The address's next device on this node: an address's devices are a list through their
   * own records, not a Set per address (≈ 150 bytes of heap per connection, measured).
   */
  next: Device | undefined;
}

/**
 * The room of every device of an address is the checksummed address itself: the string
 * each socket already holds, not a prefixed copy per connection (socket ids and the
 * `p:` presence rooms never look like an address).
 */
export const userRoom = (address: Address) => address;

/**
 * Direct messages: store in the recipient's inbox, then hand to every connected device.
 *
 * A device that connects drains its inbox in pages while live messages for it are held
 * back; then it gets the held ones it has not seen, so nothing is lost and nothing
 * arrives out of order on connect (ids are stream ids, increasing in store order).
 * Live delivery skips Socket.IO rooms on purpose: each device gets its own sequencing.
 * Every node, this one included, hears of a stored message from the inbox's notice,
 * which the store itself publishes (one notice per batch of stores under load).
 * Delivery receipts go the same way: one notice per turn on an internal channel, and
 * each node emits them to the sender's sockets it holds.
 */
export function createDelivery(deps: {
  engine: Engine;
  inbox: Inbox;
  io: MsgServer;
  /** False when the socket was dropped as a slow reader. */
  writable: (socket: MsgSocket) => boolean;
  /** Unsent bytes of a socket (see Transport.unsentBytes). */
  unsentBytes: (socket: MsgSocket, limit?: number) => number;
  /** The per-socket cap (P3_SEND_BUFFER_BYTES): the drain paces itself well below it. */
  sendBufferBytes: number;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  /** Bound of the held-back queue of a syncing device. */
  maxPending: number;
  /** Connection-state recovery window (ms; 0: off): how long receipts are kept for a replay. */
  recoveryMs: number;
}) {
  const { engine, inbox, io, logger, now } = deps;
  /** The first device of each address on this node (the rest follow `next`). */
  const devices = new Map<Address, Device>();
  /** Every device on this node (the lists above, walked: no map by socket id). */
  function* allDevices(): Generator<Device> {
    for (const first of devices.values()) for (let d: Device | undefined = first; d; d = d.next) yield d;
  }
  let unsubscribe: (() => Promise<void>) | undefined;

  const m = {
    // tallies: counted per message, folded into Prometheus at each scrape
    messages: deps.metrics.tally('p3_messaging_messages_total', 'Direct messages stored', ['source']),
    duplicates: deps.metrics.counter(
      'p3_messaging_duplicates_total',
      'Retried sends answered from the first',
    ),
    delivered: deps.metrics.tally('p3_messaging_deliveries_total', 'Messages emitted to devices', ['path']),
    sendSeconds: deps.metrics.histogram(
      'p3_messaging_send_seconds',
      'message:send until the ack',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    ),
  };
  const storedFromSockets = m.messages.labels({ source: 'socket' });
  const deliveredLive = m.delivered.labels({ path: 'live' });
  const deliveredInbox = m.delivered.labels({ path: 'inbox' });
  const deliveredHeld = m.delivered.labels({ path: 'held' });
  deps.metrics.gauge('p3_messaging_devices', 'Devices on this node by state', ['state'], function () {
    let all = 0;
    let syncing = 0;
    for (const d of allDevices()) {
      all++;
      if (d.syncing) syncing++;
    }
    this.set({ state: 'syncing' }, syncing);
    this.set({ state: 'live' }, all - syncing);
  });
  deps.metrics.gauge(
    'p3_messaging_held_messages',
    'Live messages held back while devices sync',
    [],
    function () {
      let n = 0;
      for (const d of allDevices()) n += d.pending?.length ?? 0;
      this.set(n);
    },
  );

  /**
   * One event to one socket of this node: Socket.IO's own `socket.packet` (what
   * `socket.emit` does without connection-state recovery). `socket.emit` with recovery on
   * goes through the adapter (one Redis stream entry per message, read and decoded by
   * every node, and written only after that round trip), and `io.local.to(id).emit`
   * allocates two broadcast operators, their sets and the adapter's walk per message;
   * messages need neither: the inbox keeps them until acknowledged and every (re)connect
   * drains it. Falls back to `io.local.to(id)` if a Socket.IO version lacks `packet`.
   */
  function writeEvent(socket: MsgSocket, event: string, data: unknown) {
    if (!socket.connected) return;
    const raw = socket as unknown as { packet?: (packet: { type: number; data: unknown[] }) => void };
    if (typeof raw.packet === 'function') raw.packet({ type: EVENT_PACKET, data: [event, data] });
    else io.local.to(socket.id).emit(event as 'message:receive', data as DirectMessage);
  }

  // every node sees every receipt notice: it keeps the recent ones for senders that come
  // back after missing some (on this node or another)
  const kept = new KeptReceipts(
    { maxReceipts: KEPT_RECEIPTS, maxIds: KEPT_RECEIPT_IDS, maxAgeMs: deps.recoveryMs },
    now,
  );
  deps.metrics.gauge(
    'p3_messaging_receipts_kept',
    'Delivery receipts kept for devices that come back',
    [],
    function () {
      this.set(kept.size);
    },
  );

  function onReceipts(raw: string) {
    for (const row of parseNotice(raw) ?? []) {
      if (!Array.isArray(row)) continue;
      const [to, ids, tag] = row as [unknown, unknown, { by?: unknown; timestamp?: unknown } | null];
      if (
        typeof to !== 'string' ||
        !Array.isArray(ids) ||
        !ids.every((id) => typeof id === 'string') ||
        typeof tag?.by !== 'string' ||
        typeof tag.timestamp !== 'number'
      )
        continue;
      const r: Receipt = { to: to as Address, ids, by: tag.by as Address, timestamp: tag.timestamp };
      // the sender's devices on this node (every messaging socket is one, syncing or not)
      const first = devices.get(r.to);
      if (first) {
        const receipt = { ids: r.ids, by: r.by, timestamp: r.timestamp };
        for (let d: Device | undefined = first; d; d = d.next)
          writeEvent(d.socket, 'message:delivered', receipt);
      }
      kept.add(r);
    }
  }

  function deliverLocal(msg: DirectMessage) {
    // a device dropped below (slow reader) leaves the list but keeps its `next`
    for (let d = devices.get(msg.to); d; d = d.next) {
      if (d.syncing) {
        d.pending ??= [];
        if (d.pending.length >= deps.maxPending) {
          d.overflow = true;
          d.pending.length = 0;
        } else {
          d.pending.push(msg);
        }
        continue;
      }
      if (compareStreamIds(msg.id, d.cursor) <= 0 || !deps.writable(d.socket)) continue;
      writeEvent(d.socket, 'message:receive', msg);
      deliveredLive.inc();
    }
  }

  /** Waits until a socket's unsent bytes fall to a quarter of the cap; false if it never does. */
  async function drained(socket: MsgSocket): Promise<boolean> {
    const deadline = now() + DRAIN_TIMEOUT_MS;
    while (socket.connected && now() < deadline) {
      if (deps.unsentBytes(socket, deps.sendBufferBytes) <= deps.sendBufferBytes / 4) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (socket.connected) deps.writable(socket); // still full: dropped as a slow reader
    return false;
  }

  /**
   * Inbox pages being read, PAGES_AT_ONCE at most. Every device of a node drains at once
   * when Redis comes back (every node does it at that moment) or when a reconnect storm
   * brings them all back: one read per device at once was a burst of as many engine
   * commands as devices. A turn covers the read only, not the wait for a slow reader's
   * socket, so slow readers cannot hold the others back.
   */
  const pageReads = new Turns(PAGES_AT_ONCE);
  deps.metrics.gauge(
    'p3_messaging_inbox_reads',
    'Inbox pages being read by drains, and drains waiting for their turn',
    ['state'],
    function () {
      this.set({ state: 'reading' }, pageReads.running);
      this.set({ state: 'waiting' }, pageReads.waiting);
    },
  );
  const readPage = (d: Device, after: string): Promise<DirectMessage[]> =>
    pageReads.run(async () => {
      // no check of the socket here: a drain may start before Socket.IO marks its socket
      // connected, and sync() looks after the read (a device gone meanwhile costs one read)
      // a read that never answers must not keep its turn: the drain fails, the device reconnects
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          inbox.page(d.socket.data.address, after, SYNC_PAGE),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('inbox read timed out')), PAGE_READ_TIMEOUT_MS);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    });

  async function sync(d: Device) {
    do {
      d.overflow = false;
      for (;;) {
        const page = await readPage(d, d.cursor);
        if (!d.socket.connected || !deps.writable(d.socket)) return;
        for (const msg of page) {
          // a page can be MBs (100 × 64 KiB): send at the reader's pace, never into the cap
          if (deps.unsentBytes(d.socket, deps.sendBufferBytes) > deps.sendBufferBytes / 2) {
            if (!(await drained(d.socket))) return;
          }
          writeEvent(d.socket, 'message:receive', msg);
          d.cursor = msg.id;
        }
        deliveredInbox.inc(page.length);
        if (page.length < SYNC_PAGE) break;
      }
    } while (d.overflow);
    d.syncing = false;
    const held = d.pending?.sort((a, b) => compareStreamIds(a.id, b.id)) ?? [];
    d.pending = undefined;
    for (const msg of held) {
      if (compareStreamIds(msg.id, d.cursor) <= 0) continue;
      writeEvent(d.socket, 'message:receive', msg);
      deliveredHeld.inc();
    }
  }

  return {
    async start() {
      // a message for an address with no device here is not even decoded
      const offMessages = await inbox.subscribe(
        (messages) => {
          for (const msg of messages) deliverLocal(msg);
        },
        (to) => devices.has(to),
      );
      const offReceipts = await engine.subscribe(RECEIPT_CHANNEL, onReceipts).catch(async (error) => {
        await offMessages();
        throw error;
      });
      unsubscribe = async () => {
        await Promise.all([offMessages(), offReceipts()]);
      };
    },

    /** Stores and delivers a message from `from` (already authenticated). */
    async send(
      from: Address,
      req: {
        to: Address;
        content: string;
        encrypted?: boolean | undefined;
        clientMsgId?: string | undefined;
      },
      opts: {
        source: string;
        /** How long a clientMsgId is remembered. @default the inbox TTL */
        claimTtlMs?: number;
        /** Deliver again when a retry finds its message still waiting. @default true */
        redeliver?: boolean;
      } = { source: 'socket' },
    ): Promise<Ack<{ id: string; timestamp: number; duplicate?: boolean }>> {
      const started = performance.now();
      if (Buffer.byteLength(req.content, 'utf8') > MAX_CONTENT_BYTES) {
        return {
          ok: false,
          error: { code: ErrorCode.payloadTooLarge, message: `content is over ${MAX_CONTENT_BYTES} bytes` },
        };
      }
      const draft = {
        from,
        to: req.to,
        content: req.content,
        encrypted: req.encrypted ?? false,
        timestamp: now(),
      };
      let msg: DirectMessage;
      if (req.clientMsgId !== undefined) {
        // a retried send (same sender, same clientMsgId) answers with the first one's id
        const r = await inbox.appendOnce(draft, req.clientMsgId, opts.claimTtlMs);
        if (!r.created) {
          m.duplicates.inc();
          // The store announced it, but a notice is not durable (pub/sub during a Redis
          // failover): a retry announces again while the message waits in the inbox
          // (devices drop duplicates by id).
          const [stored] = await inbox.page(req.to, previousId(r.msg.id), 1);
          if (stored && stored.id === r.msg.id && opts.redeliver !== false) {
            await inbox
              .announce(stored)
              .catch((e) =>
                logger.warn({ err: e }, 'redelivery notice failed (the inbox keeps the message)'),
              );
          }
          const timestamp = stored?.id === r.msg.id ? stored.timestamp : parseStreamId(r.msg.id)[0];
          return { ok: true, id: r.msg.id, timestamp, duplicate: true };
        }
        msg = r.msg;
      } else {
        msg = await inbox.append(draft);
      }
      // the store published its notice: every node's devices get it from there
      (opts.source === 'socket' ? storedFromSockets : m.messages.labels({ source: opts.source })).inc();
      m.sendSeconds.observe((performance.now() - started) / 1000);
      return { ok: true, id: msg.id, timestamp: msg.timestamp };
    },

    /**
     * Live copies may have been missed (the engine's pub/sub reconnected): every device
     * not already draining reads its inbox again from its cursor (duplicates are dropped
     * by id on the device; a missed message is not).
     */
    resyncAll() {
      for (const d of [...allDevices()]) {
        if (d.syncing) {
          // its last page may have been read before the outage's missed messages: once more
          d.overflow = true;
          continue;
        }
        d.syncing = true;
        sync(d).catch((error) => {
          logger.error({ err: error }, 'inbox resync failed; disconnecting so the client retries');
          d.socket.disconnect(true);
        });
      }
    },

    /** A device connected: it drains its inbox, then receives live. */
    attach(socket: MsgSocket): Promise<void> {
      const address = socket.data.address;
      const d: Device = {
        socket,
        syncing: true,
        cursor: '0-0',
        pending: undefined,
        overflow: false,
        next: devices.get(address),
      };
      devices.set(address, d);
      return sync(d).catch((error) => {
        logger.error({ err: error, address }, 'inbox drain failed; disconnecting so the client retries');
        socket.disconnect(true);
      });
    },

    detach(socket: MsgSocket) {
      const address = socket.data.address;
      let prev: Device | undefined;
      for (let d = devices.get(address); d; prev = d, d = d.next) {
        if (d.socket !== socket) continue;
        // a device being walked over keeps its `next`: a walk in progress goes on past it
        if (prev) prev.next = d.next;
        else if (d.next) devices.set(address, d.next);
        else devices.delete(address);
        return;
      }
    },

    /**
     * `address` stored these: remove them; the removal tells each sender
     * (`message:delivered`, through RECEIPT_CHANNEL).
     */
    async ack(address: Address, ids: string[]): Promise<number> {
      return inbox.remove(address, ids, {
        channel: RECEIPT_CHANNEL,
        tag: JSON.stringify({ by: address, timestamp: now() }),
      });
    },

    /**
     * A device (re)connected: the kept receipts for its address from the time it names
     * (handshake `receiptsSince`) or, for a session that came back through
     * connection-state recovery, from when it left, go to it again. A few may repeat;
     * receipts are marks, so a repeat changes nothing.
     */
    replayReceipts(socket: MsgSocket) {
      const { address, leftAt, receiptsSince } = socket.data;
      const from = receiptsSince ?? (socket.recovered ? leftAt : undefined);
      if (from === undefined) return;
      for (const r of kept.since(address, from - REPLAY_SLACK_MS)) {
        writeEvent(socket, 'message:delivered', { ids: r.ids, by: r.by, timestamp: r.timestamp });
      }
    },

    /** `reader` read messages from `from`: tell `from` (advisory; `by` is the reader's token address). */
    read(reader: Address, from: Address, ids: string[]) {
      io.to(userRoom(from)).emit('message:read', { ids, by: reader, timestamp: now() });
    },

    async close() {
      await unsubscribe?.();
      devices.clear();
    },
  };
}

export type Delivery = ReturnType<typeof createDelivery>;
