import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.js';
import {
  type Ack,
  type Address,
  CallEndReason,
  type CallInviteAck,
  type CallMedia,
  MessagingErrorCode,
} from '../../protocol/messaging.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { userRoom } from './delivery.js';
import type { MsgServer, MsgSocket } from './transport.js';

/** What the engine keeps of a call: written once by the invite, never changed. */
interface StoredCall {
  roomId: string;
  /** This call of the room (a roomId may be used again once its call ended). */
  callId: string;
  caller: Address;
  callee: Address;
  media: CallMedia;
  createdAt: number;
}

/**
 * A call as read: its state comes from its decision key (SET NX), the one step that changes
 * it, so a late or slow step can never write an ended call back.
 */
interface Call extends StoredCall {
  /** `ending`: rejected, cancelled or missed, its keys on their way out. */
  state: 'ringing' | 'active' | 'ending';
  /** The callee's socket that answered. */
  answeredBy?: string;
}

/** An active call's keys outlive a client that never says goodbye for this long at most. */
const ACTIVE_TTL_MS = 6 * 3600_000;

const busy = (code: string, message: string): Ack<CallInviteAck> => ({ ok: false, error: { code, message } });
const notFound: Ack = {
  ok: false,
  error: { code: MessagingErrorCode.callNotFound, message: 'No such ringing or active call of yours' },
};

/**
 * Call invitations, with their state in the engine so that caller and callee may sit on
 * different nodes:
 * - `call:room:<roomId>`: the call, as the invite wrote it; `call:pair:<a>|<b>`: at most one
 *   call per pair; `call:busy:<address>`: at most one call per address (else `busy`);
 * - `call:resolved:<roomId>:<callId>` (SET NX): exactly one of accept (`accepted:<socket>`),
 *   reject, cancel and the ring timeout decides a ringing call, even when two devices answer
 *   at once; it is the call's state. An accept only extends the keys' lifetimes (a no-op on
 *   keys a finished call deleted), so nothing brings an ended call back.
 * Two users inviting each other at once: the second invite finds the pair taken by the
 * first one's ringing call and answers it instead, so there is one call, not two.
 * The ring timer runs on the inviting node; if that node dies, the keys still expire.
 */
export function createCalls(deps: {
  engine: Engine;
  io: MsgServer;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  ringTimeoutMs: number;
  /** An active call ends this long after every device of one party left (none came back). */
  leftGraceMs: number;
  /** Whether the address has a connected device on any node. */
  hasDevices: (address: Address) => Promise<boolean>;
  maxTimers: number;
}) {
  const { engine, io, now, ringTimeoutMs } = deps;
  const ringTtl = ringTimeoutMs + 10_000;
  const roomKey = (roomId: string) => `call:room:${roomId}`;
  const pairKey = (a: Address, b: Address) => `call:pair:${a < b ? `${a}|${b}` : `${b}|${a}`}`;
  const busyKey = (a: Address) => `call:busy:${a}`;
  const resolvedKey = (call: StoredCall) => `call:resolved:${call.roomId}:${call.callId}`;
  /** SET NX by whoever ends an active call: exactly one hang-up (or `left`) finishes it. */
  const overKey = (call: StoredCall) => `call:over:${call.roomId}:${call.callId}`;
  /** roomId → the ring timer of the call this node rang out (its callId: a room may ring again). */
  const timers = new Map<string, { callId: string; t: NodeJS.Timeout }>();
  const stopRing = (call: StoredCall) => {
    const r = timers.get(call.roomId);
    if (r?.callId !== call.callId) return;
    clearTimeout(r.t);
    timers.delete(call.roomId);
  };
  /** socket id → the call it is ringing out (cancelled when it leaves). */
  const outgoing = new Map<string, { roomId: string; callId: string }>();
  /** address → the check, after the grace period, of an active call whose party left. */
  const leftTimers = new Map<Address, NodeJS.Timeout>();
  const outcomes = deps.metrics.counter('p3_messaging_calls_total', 'Call invitations by outcome', [
    'outcome',
  ]);
  deps.metrics.gauge('p3_messaging_ringing_calls', 'Ring timers on this node', [], function () {
    this.set(timers.size);
  });
  deps.metrics.gauge(
    'p3_messaging_left_call_checks',
    'Active calls waiting out P3_CALL_LEFT_GRACE after a party left, on this node',
    [],
    function () {
      this.set(leftTimers.size);
    },
  );

  const load = async (roomId: string): Promise<Call | undefined> => {
    const raw = await engine.get(roomKey(roomId));
    if (!raw) return undefined;
    const stored = JSON.parse(raw) as StoredCall;
    const decision = await engine.get(resolvedKey(stored));
    if (decision === null) return { ...stored, state: 'ringing' };
    if (!decision.startsWith('accepted:')) return { ...stored, state: 'ending' };
    if ((await engine.get(overKey(stored))) !== null) return { ...stored, state: 'ending' };
    return { ...stored, state: 'active', answeredBy: decision.slice(9) };
  };

  /**
   * roomId → the tail of the call operations on that room running on this node. A callee
   * whose join fails accepts and ends within a few ms, and both handlers wait on the engine:
   * run side by side, the end read the call as still ringing, its reject lost to the
   * accept, and the caller was never told. One entry per room with an operation in flight;
   * the entry goes when its chain is idle.
   */
  const turns = new Map<string, Promise<unknown>>();
  deps.metrics.gauge(
    'p3_messaging_call_rooms_busy',
    'Calls with an operation in flight on this node',
    [],
    function () {
      this.set(turns.size);
    },
  );
  function inTurn<T>(roomId: string, op: () => Promise<T>): Promise<T> {
    const run = (turns.get(roomId) ?? Promise.resolve()).then(op, op);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    turns.set(roomId, tail);
    void tail.then(() => {
      if (turns.get(roomId) === tail) turns.delete(roomId);
    });
    return run;
  }

  /**
   * A call is over: its ring timer and keys go (a pair or busy key only while it still
   * names this call; the three are read at once), then the parties are told, so whoever
   * hears the end and invites again at once is not busy. Told also when the cleanup failed
   * (the keys then expire on their own).
   */
  async function finish(call: Call, announce: () => void): Promise<void> {
    try {
      stopRing(call);
      for (const [sid, o] of outgoing) if (o.callId === call.callId) outgoing.delete(sid);
      const shared = [pairKey(call.caller, call.callee), busyKey(call.caller), busyKey(call.callee)];
      const owners = await Promise.all(shared.map((k) => engine.get(k)));
      await Promise.all([
        engine.del(roomKey(call.roomId)),
        ...shared.map((k, i) => (owners[i] === call.roomId ? engine.del(k) : undefined)),
      ]);
    } finally {
      announce();
    }
  }

  /** Decides a ringing call; false when something else decided it first. */
  const resolve = (call: StoredCall, how: string) =>
    engine.setIfAbsent(resolvedKey(call), how, ACTIVE_TTL_MS);
  /**
   * Whether `call`'s invite has finished (it sets the callee's busy key last): a crossing
   * invite answers only such a call, not one whose invite may still give up (busy) and
   * delete its keys. Waits up to 300 ms for an invite in progress.
   */
  async function rungOut(call: StoredCall): Promise<boolean> {
    const until = performance.now() + 300;
    for (;;) {
      if ((await engine.get(busyKey(call.callee))) === call.roomId) return true;
      if (performance.now() >= until || (await engine.get(roomKey(call.roomId))) === null) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Claims the end of an active call; false when another hang-up (or `left`) claimed it. */
  const claimEnd = (call: StoredCall) => engine.setIfAbsent(overKey(call), '1', ACTIVE_TTL_MS);

  /** An active call's keys live ACTIVE_TTL_MS; on keys a hang-up already deleted, a no-op. */
  const extend = (call: StoredCall) =>
    Promise.all([
      engine.expire(roomKey(call.roomId), ACTIVE_TTL_MS),
      engine.expire(pairKey(call.caller, call.callee), ACTIVE_TTL_MS),
      engine.expire(busyKey(call.caller), ACTIVE_TTL_MS),
      engine.expire(busyKey(call.callee), ACTIVE_TTL_MS),
    ]);

  async function accept(socket: MsgSocket, roomId: string): Promise<Ack> {
    const me = socket.data.address;
    const call = await load(roomId);
    if (!call || call.callee !== me || call.state !== 'ringing') return notFound;
    // the call is active from here on, on every node
    if (!(await resolve(call, `accepted:${socket.id}`))) return notFound;
    const { callId } = call;
    io.to(userRoom(call.caller)).emit('call:accepted', { roomId, from: me, callId });
    // the call is active whatever this step does: a failure is logged, not answered (the
    // ring timeout extends the keys again)
    await extend(call).catch((error) =>
      deps.logger.warn(
        { err: error, roomId },
        'call accepted; extending its keys failed (they expire with the ring)',
      ),
    );
    stopRing(call);
    outcomes.inc({ outcome: 'accepted' });
    io.to(userRoom(me))
      .except(socket.id)
      .emit('call:ended', { roomId, from: me, reason: CallEndReason.answeredElsewhere, callId });
    return { ok: true };
  }

  /** A decided call whose keys are still there this long after: its finish never came. */
  const ABANDONED_AFTER_MS = 5_000;

  /** Ends a call decided but never finished (the deciding node died), telling both sides. */
  async function finishAbandoned(roomId: string, callId: string) {
    const call = await load(roomId);
    if (call?.callId !== callId || call.state !== 'ending') return;
    await finish(call, () => {
      for (const [to, from] of [
        [call.callee, call.caller],
        [call.caller, call.callee],
      ] as const)
        io.to(userRoom(to)).emit('call:ended', { roomId, from, reason: CallEndReason.cancelled, callId });
    });
  }

  async function ringTimeout(roomId: string, callId: string) {
    if (timers.get(roomId)?.callId === callId) timers.delete(roomId);
    const call = await load(roomId);
    // a later call of the room rings on its own timer
    if (call?.callId !== callId) return;
    if (call.state === 'active') {
      // accepted: its keys live on even if the accepting node died before extending them
      await extend(call);
      return;
    }
    if (call.state === 'ending') {
      // decided and being finished, usually on another node at this very moment; if its
      // keys are still here a while later, whoever decided it died before finishing
      const t = setTimeout(() => {
        inTurn(roomId, () => finishAbandoned(roomId, callId)).catch((e) =>
          deps.logger.warn({ err: e, roomId }, 'abandoned call check failed'),
        );
      }, ABANDONED_AFTER_MS);
      t.unref();
      return;
    }
    if (!(await resolve(call, 'missed'))) return;
    outcomes.inc({ outcome: 'missed' });
    await finish(call, () => {
      io.to(userRoom(call.callee)).emit('call:ended', {
        roomId,
        from: call.caller,
        reason: CallEndReason.missed,
        callId,
      });
      io.to(userRoom(call.caller)).emit('call:ended', {
        roomId,
        from: call.callee,
        reason: CallEndReason.missed,
        callId,
      });
    });
  }

  async function end(socket: MsgSocket, roomId: string, reason: string | undefined): Promise<Ack> {
    const me = socket.data.address;
    let call = await load(roomId);
    if (!call || (call.caller !== me && call.callee !== me) || call.state === 'ending') return notFound;
    const other = call.caller === me ? call.callee : call.caller;
    if (call.state === 'ringing') {
      if (call.callee === me) return reject(socket, roomId, reason);
      if (await resolve(call, 'cancelled')) outcomes.inc({ outcome: 'cancelled' });
      else {
        // decided at this very moment on another node (this node's run in turn): an accept
        // started the call, which this hangs up; anything else ends it on its own
        const now = await load(roomId);
        if (now?.callId !== call.callId || now.state !== 'active') return notFound;
        call = now;
      }
    }
    // an active call: exactly one hang-up (or `left`) ends it and tells the parties
    if (call.state === 'active' && !(await claimEnd(call))) return notFound;
    const why = reason ?? (call.state === 'ringing' ? CallEndReason.cancelled : CallEndReason.hangup);
    const { callId } = call;
    await finish(call, () => {
      io.to(userRoom(other)).emit('call:ended', { roomId, from: me, reason: why, callId });
      io.to(userRoom(me)).except(socket.id).emit('call:ended', { roomId, from: me, reason: why, callId });
    });
    return { ok: true };
  }

  async function reject(socket: MsgSocket, roomId: string, reason: string | undefined): Promise<Ack> {
    const me = socket.data.address;
    const call = await load(roomId);
    if (!call || call.callee !== me || call.state !== 'ringing') return notFound;
    if (!(await resolve(call, 'rejected'))) return notFound;
    outcomes.inc({ outcome: 'rejected' });
    const { callId } = call;
    await finish(call, () => {
      io.to(userRoom(call.caller)).emit('call:rejected', {
        roomId,
        from: me,
        reason: reason ?? 'rejected',
        callId,
      });
      io.to(userRoom(me))
        .except(socket.id)
        .emit('call:ended', { roomId, from: me, reason: CallEndReason.rejectedElsewhere, callId });
    });
    return { ok: true };
  }

  /** Ends `roomId` if it is still `me`'s active call and no device of `me` is connected. */
  async function endIfLeft(me: Address, roomId: string) {
    const call = await load(roomId);
    if (call?.state !== 'active' || (call.caller !== me && call.callee !== me)) return;
    if (await deps.hasDevices(me)) return;
    if ((await engine.get(busyKey(me))) !== roomId) return;
    if (!(await claimEnd(call))) return;
    const other = call.caller === me ? call.callee : call.caller;
    outcomes.inc({ outcome: 'left' });
    await finish(call, () => {
      io.to(userRoom(other)).emit('call:ended', {
        roomId,
        from: me,
        reason: CallEndReason.left,
        callId: call.callId,
      });
    });
  }

  return {
    accept: (socket: MsgSocket, roomId: string) => inTurn(roomId, () => accept(socket, roomId)),
    reject: (socket: MsgSocket, roomId: string, reason: string | undefined) =>
      inTurn(roomId, () => reject(socket, roomId, reason)),
    end: (socket: MsgSocket, roomId: string, reason: string | undefined) =>
      inTurn(roomId, () => end(socket, roomId, reason)),

    async invite(
      socket: MsgSocket,
      req: { to: Address; roomId: string; media: CallMedia },
    ): Promise<Ack<CallInviteAck>> {
      const me = socket.data.address;
      const { to, roomId, media } = req;
      if (to === me)
        return { ok: false, error: { code: ErrorCode.badRequest, message: 'Cannot call yourself' } };
      const call: StoredCall = {
        roomId,
        callId: randomUUID(),
        caller: me,
        callee: to,
        media,
        createdAt: now(),
      };
      const { callId } = call;
      if (!(await engine.setIfAbsent(roomKey(roomId), JSON.stringify(call), ringTtl))) {
        const existing = await load(roomId);
        if (existing?.caller === me && existing.callee === to && existing.state !== 'ending')
          return {
            ok: true,
            roomId,
            status: existing.state === 'active' ? 'accepted' : 'ringing',
            callId: existing.callId,
          };
        return {
          ok: false,
          error: { code: ErrorCode.badRequest, message: 'roomId is in use by another call' },
        };
      }
      const undo: string[] = [roomKey(roomId)];
      const giveUp = async (answer: Ack<CallInviteAck>) => {
        await Promise.all(undo.map((k) => engine.del(k)));
        return answer;
      };
      if (!(await engine.setIfAbsent(pairKey(me, to), roomId, ringTtl))) {
        const theirs = await engine.get(pairKey(me, to));
        const other = theirs ? await load(theirs) : undefined;
        if (
          other &&
          other.state === 'ringing' &&
          other.caller === to &&
          other.callee === me &&
          (await rungOut(other))
        ) {
          // they are calling us at the same moment: answer their call rather than ring a second one
          await giveUp({ ok: true, roomId, status: 'ringing', callId });
          const answered = await inTurn(other.roomId, () => accept(socket, other.roomId));
          outcomes.inc({ outcome: 'merged' });
          return answered.ok
            ? { ok: true, roomId: other.roomId, status: 'accepted', callId: other.callId }
            : (answered as Ack<CallInviteAck>);
        }
        outcomes.inc({ outcome: 'busy' });
        return giveUp(busy(MessagingErrorCode.busy, 'You are already in a call with this address'));
      }
      undo.push(pairKey(me, to));
      if (!(await engine.setIfAbsent(busyKey(me), roomId, ringTtl))) {
        outcomes.inc({ outcome: 'busy' });
        return giveUp(busy(MessagingErrorCode.busy, 'You are already in a call'));
      }
      undo.push(busyKey(me));
      if (!(await engine.setIfAbsent(busyKey(to), roomId, ringTtl))) {
        outcomes.inc({ outcome: 'busy' });
        return giveUp(busy(MessagingErrorCode.busy, 'The callee is in another call'));
      }
      outgoing.set(socket.id, { roomId, callId });
      if (timers.size < deps.maxTimers) {
        const earlier = timers.get(roomId);
        if (earlier) clearTimeout(earlier.t);
        const t = setTimeout(() => {
          inTurn(roomId, () => ringTimeout(roomId, callId)).catch((e) =>
            deps.logger.warn({ err: e, roomId }, 'ring timeout failed'),
          );
        }, ringTimeoutMs);
        t.unref();
        timers.set(roomId, { callId, t });
      }
      outcomes.inc({ outcome: 'ringing' });
      io.to(userRoom(to)).emit('call:incoming', { from: me, roomId, media, callId });
      const rung = await load(roomId);
      if (rung?.callId === callId && rung.state === 'active') {
        // answered (by a crossing invite) before we rang: stop the ring on the callee's other devices
        await Promise.all([
          engine.expire(busyKey(me), ACTIVE_TTL_MS),
          engine.expire(busyKey(to), ACTIVE_TTL_MS),
        ]);
        const ring = io.to(userRoom(to));
        (rung.answeredBy ? ring.except(rung.answeredBy) : ring).emit('call:ended', {
          roomId,
          from: to,
          reason: CallEndReason.answeredElsewhere,
          callId,
        });
      }
      return { ok: true, roomId, status: 'ringing', callId };
    },

    /** A device that connects while a call to its address rings, rings too. */
    async resume(socket: MsgSocket) {
      const me = socket.data.address;
      const roomId = await engine.get(busyKey(me));
      const call = roomId ? await load(roomId) : undefined;
      if (call?.state === 'ringing' && call.callee === me) {
        socket.emit('call:incoming', {
          from: call.caller,
          roomId: call.roomId,
          media: call.media,
          callId: call.callId,
        });
      }
    },

    /**
     * The socket left: a call it was still ringing out is cancelled; an active call of its
     * address ends (`left`) if no device of the address is connected after the grace period
     * (a reload or a network change comes back well within it). Without this, a party that
     * closed the tab would keep both sides busy for the call's 6 h lifetime.
     */
    async drop(socket: MsgSocket) {
      const me = socket.data.address;
      const out = outgoing.get(socket.id);
      if (out) {
        outgoing.delete(socket.id);
        const { roomId } = out;
        const call = await load(roomId);
        if (call?.callId === out.callId && call.state === 'ringing' && call.caller === me) {
          await inTurn(roomId, () => end(socket, roomId, CallEndReason.cancelled));
          return;
        }
      }
      const active = await engine.get(busyKey(me));
      if (!active) return;
      // the grace runs from the last device that left
      clearTimeout(leftTimers.get(me));
      leftTimers.delete(me);
      if (leftTimers.size >= deps.maxTimers) return;
      const t = setTimeout(() => {
        leftTimers.delete(me);
        inTurn(active, () => endIfLeft(me, active)).catch((e) =>
          deps.logger.warn({ err: e, roomId: active }, 'left-call check failed'),
        );
      }, deps.leftGraceMs);
      t.unref();
      leftTimers.set(me, t);
    },

    /** Stops the timers; resolves once the call operations in flight on this node are done. */
    async close(): Promise<void> {
      for (const r of timers.values()) clearTimeout(r.t);
      for (const t of leftTimers.values()) clearTimeout(t);
      timers.clear();
      leftTimers.clear();
      outgoing.clear();
      await Promise.allSettled([...turns.values()]);
    },
  };
}

export type Calls = ReturnType<typeof createCalls>;
