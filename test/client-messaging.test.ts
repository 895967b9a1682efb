import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBackoffPolicy } from '../src/client/backoff.js';
import { createMessagingClient, type MessagingClient } from '../src/client/messaging.js';
import type { DirectMessage } from '../src/protocol/messaging.js';
import { startServer, type TestServer, uniqueId, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

const fast = createBackoffPolicy({ stepsMs: [50, 100, 200], jitter: 'none' });

describe('messaging client against the real server', () => {
  let t: TestServer;
  const clients: MessagingClient[] = [];
  beforeAll(async () => {
    t = await startServer();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => t.close());

  const connect = async (extra: Partial<Parameters<typeof createMessagingClient>[0]> = {}) => {
    const { token, address } = await signIn(t.url);
    const c = createMessagingClient({ url: t.url, token, reconnectPolicy: fast, ...extra });
    clients.push(c);
    await waitFor(() => c.state === 'open', { what: 'messaging connected' });
    return { c, address, token };
  };

  it('sends with a clientMsgId, the other device receives it and the sender gets a delivery receipt', async () => {
    const a = await connect();
    const b = await connect();
    const got = new Promise<DirectMessage>((r) => b.c.once('message', r));
    const delivered = new Promise((r) => a.c.once('delivered', r));
    const sent = await a.c.send(b.address, 'hello');
    expect(sent.id).toMatch(/^\d+-\d+$/);
    expect(sent.clientMsgId).toBeTruthy();
    expect(await got).toMatchObject({ id: sent.id, from: a.address, to: b.address, content: 'hello' });
    expect(await delivered).toMatchObject({ ids: [sent.id], by: b.address });
  });

  it('dedupes a message the server delivers again after a forced disconnect, and acks it then', async () => {
    const a = await connect();
    const b = await connect();
    const raw: string[] = [];
    b.c.socket.on('message:receive', (m) => raw.push(m.id));
    const receipts: string[][] = [];
    a.c.on('delivered', (r) => receipts.push(r.ids));
    const seen: string[] = [];
    let cut = false;
    b.c.on('message', (m) => {
      seen.push(m.id);
      // drop the connection before the automatic ack can leave: the server keeps the message
      if (!cut) {
        cut = true;
        b.c.socket.io.engine.close();
      }
    });
    const { id } = await a.c.send(b.address, 'at least once');
    await waitFor(() => raw.length >= 2, { what: 'the re-delivery after reconnect' });
    expect(raw).toEqual([id, id]);
    expect(seen).toEqual([id]);
    await waitFor(() => b.c.state === 'open', { what: 'reconnected' });

    // the ack went out after the reconnect: one more reconnect delivers nothing again
    await waitFor(() => receipts.some((ids) => ids.includes(id)), { what: 'the delivery receipt' });
    b.c.socket.io.engine.close();
    await waitFor(() => b.c.state === 'reconnecting' || b.c.state === 'open', { what: 'cycle' });
    await waitFor(() => b.c.state === 'open', { what: 'reconnected again' });
    const { id: id2 } = await a.c.send(b.address, 'next');
    await waitFor(() => seen.length === 2, { what: 'the next message' });
    expect(seen).toEqual([id, id2]);
    expect(raw).toEqual([id, id, id2]);
  });

  it('a receipt published while the sender was away arrives after its reconnect', async () => {
    const slow = createBackoffPolicy({ stepsMs: [1_500], jitter: 'none' });
    const a = await connect({ reconnectPolicy: slow });
    const b = await signIn(t.url); // offline for now: the message waits in its inbox
    const receipts: string[][] = [];
    a.c.on('delivered', (r) => receipts.push(r.ids));
    const { id } = await a.c.send(b.address, 'while you were away');
    a.c.socket.io.engine.close();
    await waitFor(() => a.c.state !== 'open', { what: 'the sender away' });
    // the recipient connects, drains its inbox and acknowledges while the sender is away
    const bc = createMessagingClient({ url: t.url, token: b.token, reconnectPolicy: fast });
    clients.push(bc);
    await new Promise((r) => bc.once('message', r));
    expect(a.c.state).not.toBe('open');
    await waitFor(() => receipts.some((ids) => ids.includes(id)), {
      what: 'the receipt after the reconnect',
    });
  });

  it('a message sent while disconnected goes out after the reconnect (once)', async () => {
    const a = await connect();
    const b = await connect();
    const got: string[] = [];
    b.c.on('message', (m) => got.push(m.content));
    a.c.socket.io.engine.close();
    expect(a.c.state).toBe('reconnecting');
    const sent = await a.c.send(b.address, 'queued');
    await waitFor(() => got.length === 1, { what: 'delivery' });
    expect(got).toEqual(['queued']);
    expect(sent.id).toBeTruthy();
  });

  it('bounds the sends waiting for a connection', async () => {
    const a = await connect({ maxPendingSends: 2 });
    a.c.socket.io.engine.close();
    const to = '0x0000000000000000000000000000000000000001';
    const waiting = [a.c.send(to, '1'), a.c.send(to, '2')];
    await expect(a.c.send(to, '3')).rejects.toMatchObject({ code: 'queue_full' });
    await Promise.all(waiting);
  });

  it('refuses an oversized message with payload_too_large (no retry)', async () => {
    const a = await connect();
    const b = await connect();
    await expect(a.c.send(b.address, 'x'.repeat(64 * 1024 + 1))).rejects.toMatchObject({
      code: 'payload_too_large',
    });
  });

  it('presence subscribe, throttled typing, call invite / accept', async () => {
    const a = await connect();
    const b = await connect();
    const states = await a.c.subscribePresence([b.address]);
    expect(states).toEqual([expect.objectContaining({ address: b.address, status: 'online' })]);
    const away = new Promise((r) => a.c.once('presence', r));
    b.c.setPresence('away');
    expect(await away).toMatchObject({ address: b.address, status: 'away' });

    const typing: boolean[] = [];
    a.c.on('typing', (x) => typing.push(x.isTyping));
    for (let i = 0; i < 10; i++) b.c.typing(a.address);
    b.c.stopTyping(a.address);
    await waitFor(() => typing.length >= 2, { what: 'typing indicators' });
    expect(typing).toEqual([true, false]);

    const roomId = uniqueId('room');
    const incoming = new Promise((r) => b.c.once('call:incoming', r));
    const accepted = new Promise((r) => a.c.once('call:accepted', r));
    expect(await a.c.invite(b.address, roomId, 'video')).toMatchObject({ roomId, status: 'ringing' });
    expect(await incoming).toMatchObject({ from: a.address, roomId, media: 'video' });
    await b.c.accept(roomId);
    expect(await accepted).toMatchObject({ roomId, from: b.address });
  });

  it('drops a call:accepted that comes after its call ended (a cancel crossing an accept), not a later call of the room', async () => {
    const a = await connect();
    const b = await connect();
    // a second device of A: it hears the end of the call from the server
    const a2 = createMessagingClient({ url: t.url, token: a.token, reconnectPolicy: fast });
    clients.push(a2);
    await waitFor(() => a2.state === 'open', { what: 'second device connected' });
    const roomId = uniqueId('room');
    const ring = new Promise((r) => b.c.once('call:incoming', r));
    const first = await a.c.invite(b.address, roomId, 'audio');
    expect(first.callId).toEqual(expect.any(String));
    await ring;
    const accepted: unknown[] = [];
    const accepted2: unknown[] = [];
    a.c.on('call:accepted', (x) => accepted.push(x));
    a2.on('call:accepted', (x) => accepted2.push(x));
    const ended = new Promise((r) => b.c.once('call:ended', r));
    const ended2 = new Promise((r) => a2.once('call:ended', r));
    await a.c.endCall(roomId);
    await Promise.all([ended, ended2]);
    // what the callee's node says when its accept won there: after the cancel's call:ended
    const late = { roomId, from: b.address, callId: first.callId };
    t.server.messaging.io.to(a.address).emit('call:accepted', late);
    // events on one connection arrive in order: once this one is here, that one was handled
    const marks = [a.c, a2].map((c) => new Promise((r) => c.once('typing', r)));
    t.server.messaging.io
      .to(a.address)
      .emit('typing:indicator', { from: b.address, conversationId: b.address, isTyping: false });
    await Promise.all(marks);
    expect(accepted).toEqual([]);
    expect(accepted2).toEqual([]);

    // the same roomId, a new call: its accept reaches both devices of A
    const again = new Promise((r) => b.c.once('call:incoming', r));
    const second = await a.c.invite(b.address, roomId, 'audio');
    expect(second.callId).not.toBe(first.callId);
    await again;
    await b.c.accept(roomId);
    await waitFor(() => accepted.length === 1 && accepted2.length === 1, {
      what: 'call:accepted of the new call',
    });
    expect(accepted).toEqual([{ roomId, from: b.address, callId: second.callId }]);
    expect(accepted2).toEqual(accepted);
  });

  it('a bad fixed token ends in closed with unauthorized', async () => {
    const c = createMessagingClient({ url: t.url, token: 'bad', reconnectPolicy: fast });
    clients.push(c);
    const errors: string[] = [];
    c.on('error', (e) => errors.push(e.code));
    await waitFor(() => c.state === 'closed', { what: 'closed' });
    expect(errors).toEqual(['unauthorized']);
  });
});
