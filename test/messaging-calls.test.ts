import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallIncoming } from '../src/protocol/messaging.js';
import { createMemoryEngine } from '../src/server/engine/memory.js';
import {
  answeredCall,
  atLeast,
  type Client,
  call,
  closeAll,
  connect,
  newUser,
  newUsers,
  next,
  record,
  ringingCall,
  type User,
} from './helpers/messaging.js';
import { startServer, type TestServer, uniqueId } from './helpers/server.js';

// Call invitations on one in-memory node (the two-node runs are in messaging-cluster).
describe('messaging calls', () => {
  let srv: TestServer;
  const open: Client[] = [];
  const client = async (u: User) => {
    const c = await connect(srv.url, u.token);
    open.push(c);
    return c;
  };
  const users = () => Promise.all([newUser(srv.url), newUser(srv.url), newUser(srv.url)]);

  beforeAll(async () => {
    srv = await startServer({ callRingTimeoutMs: 400, callLeftGraceMs: 300 });
  });
  afterAll(async () => {
    closeAll(...open);
    await srv.close();
  });

  it('rings every device; accepting on one ends the ring on the others', async () => {
    const [alice, bob] = await users();
    const a = await client(alice);
    const [b1, b2] = await Promise.all([client(bob), client(bob)]);
    const roomId = uniqueId('room');
    const rings = [next(b1, 'call:incoming'), next(b2, 'call:incoming')];
    const invited = await call(a, 'call:invite', { to: bob.address, roomId, media: 'video' });
    expect(invited).toEqual({ ok: true, roomId, status: 'ringing', callId: expect.any(String) });
    // every event of the call names it
    const { callId } = invited as { callId: string };
    for (const r of await Promise.all(rings))
      expect(r).toEqual({ from: alice.address, roomId, media: 'video', callId });
    const accepted = next(a, 'call:accepted');
    const ended = next(b2, 'call:ended');
    const b1Ended = record(b1, 'call:ended');
    expect(await call(b1, 'call:accepted', { roomId })).toEqual({ ok: true });
    expect(await accepted).toEqual({ roomId, from: bob.address, callId });
    expect(await ended).toEqual({ roomId, from: bob.address, reason: 'answered_elsewhere', callId });
    // the other device cannot answer any more; the ring timeout does not fire on an active call
    expect(await call(b2, 'call:accepted', { roomId })).toMatchObject({
      ok: false,
      error: { code: 'call_not_found' },
    });
    // hang up: the other party learns it
    const hung = next(a, 'call:ended');
    expect(await call(b1, 'call:ended', { roomId })).toEqual({ ok: true });
    expect(await hung).toEqual({ roomId, from: bob.address, reason: 'hangup', callId });
    expect(b1Ended).toEqual([]);
  });

  it('a device that connects while a call rings, rings too', async () => {
    const [alice, bob] = await users();
    const [a, b1] = await Promise.all([client(alice), client(bob)]);
    const roomId = uniqueId('room');
    const ring = next(b1, 'call:incoming');
    await call(a, 'call:invite', { to: bob.address, roomId, media: 'video' });
    await ring;
    let late: CallIncoming[] = [];
    const b2 = await connect(srv.url, bob.token, {}, (c) => {
      late = record(c, 'call:incoming');
    });
    open.push(b2);
    await atLeast(late, 1, 'ring on the late device');
    expect(late[0]).toMatchObject({ from: alice.address, roomId, media: 'video' });
    await call(a, 'call:ended', { roomId });
  });

  it('reject: the caller gets call:rejected and the callee’s other devices stop ringing', async () => {
    const [alice, bob] = await users();
    const a = await client(alice);
    const [b1, b2] = await Promise.all([client(bob), client(bob)]);
    const roomId = uniqueId('room');
    await ringingCall(a, b2, bob.address, roomId);
    const rejected = next(a, 'call:rejected');
    const stop = next(b2, 'call:ended');
    expect(await call(b1, 'call:rejected', { roomId, reason: 'declined' })).toEqual({ ok: true });
    expect(await rejected).toMatchObject({ roomId, from: bob.address, reason: 'declined' });
    expect(await stop).toMatchObject({ roomId, from: bob.address, reason: 'rejected_elsewhere' });
    // both are free again
    const again = await call(a, 'call:invite', { to: bob.address, roomId: uniqueId('room'), media: 'audio' });
    expect(again).toMatchObject({ ok: true, status: 'ringing' });
  });

  it('cancel: the caller ends a ringing call and the callee stops ringing', async () => {
    const [alice, bob] = await users();
    const [a, b] = await Promise.all([client(alice), client(bob)]);
    const roomId = uniqueId('room');
    await ringingCall(a, b, bob.address, roomId);
    const ended = next(b, 'call:ended');
    expect(await call(a, 'call:ended', { roomId })).toEqual({ ok: true });
    expect(await ended).toMatchObject({ roomId, from: alice.address, reason: 'cancelled' });
    expect(await call(b, 'call:accepted', { roomId })).toMatchObject({
      ok: false,
      error: { code: 'call_not_found' },
    });
  });

  it('a callee that accepts and hangs up at once (its join failed): the caller is told, both are free', async () => {
    const [alice, bob] = await users();
    const [a, b] = await Promise.all([client(alice), client(bob)]);
    const roomId = uniqueId('room');
    await ringingCall(a, b, bob.address, roomId);
    const accepted = next(a, 'call:accepted');
    const ended = next(a, 'call:ended');
    // the hang-up is sent before the accept is answered
    const [acc, end] = await Promise.all([
      call(b, 'call:accepted', { roomId }),
      call(b, 'call:ended', { roomId, reason: 'hangup' }),
    ]);
    expect(acc).toEqual({ ok: true });
    expect(end).toEqual({ ok: true });
    expect(await accepted).toMatchObject({ roomId, from: bob.address });
    expect(await ended).toMatchObject({ roomId, from: bob.address, reason: 'hangup' });
    const again = await call(a, 'call:invite', { to: bob.address, roomId: uniqueId('room'), media: 'audio' });
    expect(again).toMatchObject({ ok: true, status: 'ringing' });
  });

  it('a roomId used again after its call ended rings and is answered as a new call', async () => {
    const [alice, bob] = await users();
    const [a, b] = await Promise.all([client(alice), client(bob)]);
    const roomId = uniqueId('room');
    await answeredCall(a, b, bob.address, roomId);
    expect(await call(a, 'call:ended', { roomId })).toEqual({ ok: true });
    const ring = next(b, 'call:incoming');
    expect(await call(a, 'call:invite', { to: bob.address, roomId, media: 'audio' })).toMatchObject({
      ok: true,
      status: 'ringing',
    });
    await ring;
    const accepted = next(a, 'call:accepted');
    expect(await call(b, 'call:accepted', { roomId })).toEqual({ ok: true });
    expect(await accepted).toMatchObject({ roomId, from: bob.address });
  });

  it('an unanswered call becomes missed after the ring timeout, on both sides', async () => {
    const [alice, bob] = await users();
    const [a, b] = await Promise.all([client(alice), client(bob)]);
    const roomId = uniqueId('room');
    const endedB = next(b, 'call:ended');
    const endedA = next(a, 'call:ended');
    await call(a, 'call:invite', { to: bob.address, roomId, media: 'audio' });
    expect(await endedB).toMatchObject({ roomId, from: alice.address, reason: 'missed' });
    expect(await endedA).toMatchObject({ roomId, from: bob.address, reason: 'missed' });
  });

  it('busy: a callee already in a call, and a caller already in one', async () => {
    const [alice, bob, carol] = await users();
    const [a, b, c] = await Promise.all([client(alice), client(bob), client(carol)]);
    const roomId = uniqueId('room');
    await call(a, 'call:invite', { to: bob.address, roomId, media: 'audio' });
    await call(b, 'call:accepted', { roomId });
    const busy = await call(c, 'call:invite', { to: bob.address, roomId: uniqueId('room'), media: 'audio' });
    expect(busy).toMatchObject({ ok: false, error: { code: 'busy' } });
    const busy2 = await call(a, 'call:invite', {
      to: carol.address,
      roomId: uniqueId('room'),
      media: 'audio',
    });
    expect(busy2).toMatchObject({ ok: false, error: { code: 'busy' } });
    const inUse = await call(c, 'call:invite', { to: alice.address, roomId, media: 'audio' });
    expect(inUse).toMatchObject({ ok: false });
    await call(a, 'call:ended', { roomId });
    const free = await call(c, 'call:invite', { to: bob.address, roomId: uniqueId('room'), media: 'audio' });
    expect(free).toMatchObject({ ok: true, status: 'ringing' });
  });

  it('two users inviting each other at once end in one call', async () => {
    for (let round = 0; round < 5; round++) {
      const [alice, bob] = await users();
      const [a, b] = await Promise.all([client(alice), client(bob)]);
      const acceptedA = record(a, 'call:accepted');
      const acceptedB = record(b, 'call:accepted');
      const [ra, rb] = await Promise.all([
        call(a, 'call:invite', { to: bob.address, roomId: uniqueId('ra'), media: 'audio' }),
        call(b, 'call:invite', { to: alice.address, roomId: uniqueId('rb'), media: 'audio' }),
      ]);
      expect(ra.ok && rb.ok, JSON.stringify([ra, rb])).toBe(true);
      // one invite rang, the crossing one answered it: both name the same room
      expect(ra.roomId === rb.roomId || [ra.status, rb.status].includes('accepted')).toBe(true);
      const room = ra.status === 'accepted' ? ra.roomId : rb.roomId;
      expect([ra.status, rb.status].sort()).toEqual(['accepted', 'ringing']);
      const caller = ra.status === 'ringing' ? acceptedA : acceptedB;
      await atLeast(caller, 1, 'call:accepted');
      expect(caller[0]!.roomId).toBe(room);
      expect((ra.status === 'ringing' ? ra : rb).roomId).toBe(room);
      // and neither is free for a third call until it ends
      expect(await call(a, 'call:ended', { roomId: room })).toEqual({ ok: true });
    }
  });

  it('a caller whose socket leaves while ringing cancels the ring', async () => {
    const [alice, bob] = await users();
    const [a, b] = await Promise.all([client(alice), client(bob)]);
    const roomId = uniqueId('room');
    await ringingCall(a, b, bob.address, roomId);
    const ended = next(b, 'call:ended');
    a.close();
    expect(await ended).toMatchObject({ roomId, from: alice.address, reason: 'cancelled' });
  });

  it('an active call ends when every device of one party left and none came back in time', async () => {
    const [alice, bob, carol] = await users();
    const [a, b, c] = await Promise.all([client(alice), client(bob), client(carol)]);
    const roomId = uniqueId('room');
    await answeredCall(a, b, bob.address, roomId);
    // a reload: alice's device leaves and a new one connects within the grace period
    const ends = record(b, 'call:ended');
    a.close();
    const a2 = await client(alice);
    // nothing to wait for but time: twice the 300 ms grace passes with the call still on
    await new Promise((r) => setTimeout(r, 600));
    expect(ends).toEqual([]);
    expect(
      await call(c, 'call:invite', { to: bob.address, roomId: uniqueId('room'), media: 'audio' }),
    ).toMatchObject({ ok: false, error: { code: 'busy' } });
    // the tab closed: no device of alice's comes back
    const ended = next(b, 'call:ended');
    a2.close();
    expect(await ended).toMatchObject({ roomId, from: alice.address, reason: 'left' });
    // bob is free again
    const second = uniqueId('room');
    expect(await call(c, 'call:invite', { to: bob.address, roomId: second, media: 'audio' })).toMatchObject({
      ok: true,
      roomId: second,
      status: 'ringing',
    });
    await call(c, 'call:ended', { roomId: second });
  });
});

// A call's end is announced once its state is gone: with an engine whose deletes are slow
// (a busy Redis), a client that invites again the moment it hears the end is not busy.
describe('messaging calls on a slow engine', () => {
  let slow: TestServer;
  const open: Client[] = [];
  beforeAll(async () => {
    const engine = createMemoryEngine();
    const del = engine.del.bind(engine);
    engine.del = async (key: string) => {
      if (key.startsWith('call:')) await new Promise((r) => setTimeout(r, 150));
      return del(key);
    };
    slow = await startServer({ callRingTimeoutMs: 400 }, { engine });
  });
  afterAll(async () => {
    closeAll(...open);
    await slow.close();
  });

  it('whoever hears a call end is free at once: an invite sent from that handler is not busy', async () => {
    const [alice, bob, carol] = await newUsers(slow.url, 3);
    const [x, y, c] = await Promise.all([
      connect(slow.url, alice.token),
      connect(slow.url, bob.token),
      connect(slow.url, carol.token),
    ]);
    open.push(x, y, c);
    // the notified client invites carol the moment it hears the end, without waiting
    const inviteOnHearing = (who: Client, event: 'call:ended' | 'call:rejected') =>
      new Promise<unknown>((resolve) => {
        who.once(event, () => {
          who.emit('call:invite', { to: carol.address, roomId: uniqueId('room'), media: 'audio' }, resolve);
        });
      });
    const freeCarol = async (roomId: string) => {
      await call(c, 'call:rejected', { roomId });
    };
    // hung up by the other side
    let roomId = uniqueId('room');
    await answeredCall(x, y, bob.address, roomId);
    let answer = inviteOnHearing(y, 'call:ended');
    expect(await call(x, 'call:ended', { roomId })).toEqual({ ok: true });
    expect(await answer).toMatchObject({ ok: true, status: 'ringing' });
    await freeCarol(((await answer) as { roomId: string }).roomId);
    // rejected
    roomId = uniqueId('room');
    const ring = next(y, 'call:incoming');
    await call(x, 'call:invite', { to: bob.address, roomId, media: 'audio' });
    await ring;
    answer = inviteOnHearing(x, 'call:rejected');
    expect(await call(y, 'call:rejected', { roomId })).toEqual({ ok: true });
    expect(await answer).toMatchObject({ ok: true, status: 'ringing' });
    await freeCarol(((await answer) as { roomId: string }).roomId);
    // missed (the ring timeout)
    answer = inviteOnHearing(x, 'call:ended');
    await call(x, 'call:invite', { to: bob.address, roomId: uniqueId('room'), media: 'audio' });
    expect(await answer).toMatchObject({ ok: true, status: 'ringing' });
  });
});
