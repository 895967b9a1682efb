import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuthSession } from '../src/client/auth.js';
import { createBackoffPolicy } from '../src/client/backoff.js';
import { ClientError } from '../src/client/errors.js';
import { createSignalingClient, type SignalingClient, type SignalMessage } from '../src/client/signaling.js';
import { platform, recordingWebSocket } from './helpers/client.js';
import { startServer, TEST_DOMAIN, type TestServer, uniqueId, waitFor } from './helpers/server.js';
import { newAccount, signIn } from './helpers/siwe.js';

const fast = createBackoffPolicy({ stepsMs: [50, 100], jitter: 'none' });

describe('signaling client against the real server', () => {
  let t: TestServer;
  const clients: SignalingClient[] = [];
  beforeAll(async () => {
    t = await startServer();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => t.close());

  const connect = async (extra: Partial<Parameters<typeof createSignalingClient>[0]> = {}) => {
    const { token } = await signIn(t.url);
    const c = createSignalingClient({
      url: t.url,
      token,
      WebSocket: platform.WebSocket,
      reconnectPolicy: fast,
      ...extra,
    });
    clients.push(c);
    return c;
  };

  it('joins a room, sees the other peer and relays an offer to it', async () => {
    const room = uniqueId('room');
    const a = await connect();
    const b = await connect();
    expect(await a.join(room)).toEqual([]);
    const joinedA = new Promise<string>((r) => a.once('peer_joined', (e) => r(e.peer.peerId)));
    const peersOfB = await b.join(room);
    expect(peersOfB).toEqual([{ peerId: a.peerId, address: a.address }]);
    expect(await joinedA).toBe(b.peerId);

    const got = new Promise<SignalMessage>((r) => b.once('signal', r));
    a.signal('offer', room, { type: 'offer', sdp: 'v=0' }, b.peerId);
    expect(await got).toEqual({
      type: 'offer',
      roomId: room,
      from: a.peerId,
      fromAddress: a.address,
      data: { type: 'offer', sdp: 'v=0' },
    });
  });

  it('after a dropped connection it re-authenticates and re-joins its rooms', async () => {
    const room = uniqueId('room');
    const rec = recordingWebSocket();
    const a = await connect();
    const b = await connect({ WebSocket: rec.WebSocket });
    await a.join(room);
    await b.join(room);
    const oldPeer = b.peerId!;
    const left: string[] = [];
    const joined: string[] = [];
    a.on('peer_left', (e) => left.push(e.peerId));
    a.on('peer_joined', (e) => joined.push(e.peer.peerId));
    const rejoined = new Promise((r) => b.once('joined', r));
    await waitFor(() => b.state === 'open', { what: 'open' });
    const states: string[] = [];
    b.on('state', (s) => states.push(s.to));

    rec.sockets.at(-1)!.terminate();
    expect(await rejoined).toMatchObject({ roomId: room, rejoined: true });
    expect(b.peerId).not.toBe(oldPeer);
    await waitFor(() => b.state === 'open', { what: 'open again' });
    expect(states).toEqual(['reconnecting', 'open']);
    await waitFor(() => left.includes(oldPeer) && joined.includes(b.peerId!), {
      what: 'peer_left + peer_joined',
    });

    // frames sent while down are queued and reach the room after the re-join
    rec.sockets.at(-1)!.terminate();
    await waitFor(() => b.state === 'reconnecting', { what: 'reconnecting' });
    const got = new Promise<SignalMessage>((r) => a.once('signal', r));
    b.signal('ice', room, { candidate: '' });
    expect((await got).from).toBe(b.peerId);
  });

  it('end: the others get end and peer_left; the ender leaves the room', async () => {
    const room = uniqueId('room');
    const a = await connect();
    const b = await connect();
    await a.join(room);
    await b.join(room);
    const ended = new Promise((r) => b.once('end', r));
    const left = new Promise((r) => b.once('peer_left', r));
    a.end(room);
    expect(await ended).toMatchObject({ roomId: room, from: a.peerId, fromAddress: a.address });
    expect(await left).toEqual({ roomId: room, peerId: a.peerId });
    expect(a.rooms.has(room)).toBe(false);
  });

  it('a bad fixed token ends in closed with auth_failed (no reconnect loop)', async () => {
    const c = createSignalingClient({
      url: t.url,
      token: 'not-a-token',
      WebSocket: platform.WebSocket,
      reconnectPolicy: fast,
    });
    clients.push(c);
    const errors: ClientError[] = [];
    c.on('error', (e) => errors.push(e));
    await waitFor(() => c.state === 'closed', { what: 'closed' });
    expect(errors[0]).toBeInstanceOf(ClientError);
    expect(errors[0]?.code).toBe('auth_failed');
  });

  it('re-authenticates the live connection when the auth session refreshes its token', async () => {
    const auth = createAuthSession({
      url: t.url,
      signer: newAccount(),
      domain: TEST_DOMAIN,
      refreshBeforeMs: 24 * 3600_000 - 300, // refresh almost at once
      autoRefresh: true,
    });
    const rec = recordingWebSocket();
    const c = createSignalingClient({
      url: t.url,
      token: auth,
      WebSocket: rec.WebSocket,
      reconnectPolicy: fast,
    });
    clients.push(c);
    await waitFor(() => c.state === 'open', { what: 'open' });
    const peerId = c.peerId;
    const authOks: string[] = [];
    rec.sockets[0]!.on('message', (d) => String(d).includes('"auth_ok"') && authOks.push(String(d)));
    await waitFor(() => authOks.length >= 1, { what: 'a second auth_ok on the same connection' });
    auth.close();
    expect(rec.sockets).toHaveLength(1);
    expect(c.peerId).toBe(peerId);
    expect(c.state).toBe('open');
  });

  it('refuses an invalid room id locally', async () => {
    const a = await connect();
    await expect(a.join('bad room!')).rejects.toMatchObject({ code: 'invalid_room' });
  });
});
