import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer, uniqueId } from './helpers/server.js';
import { connectPeer, join, opened, openSignaling, type SignalingClient } from './helpers/signaling.js';
import { getNonce, newAccount, siweMessage } from './helpers/siwe.js';

const sdp = (kind: 'offer' | 'answer') => ({
  type: kind,
  sdp: `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=${kind}\r\n`,
});
const candidate = {
  candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host',
  sdpMid: '0',
  sdpMLineIndex: 0,
};

/** Sends a ping and waits for the pong: the connection is alive and answering. */
async function alive(c: SignalingClient) {
  c.send({ type: 'ping' });
  const pong = await c.next('pong');
  expect(typeof pong.serverTime).toBe('number');
}

async function expectError(c: SignalingClient, frame: unknown, code: string) {
  if (typeof frame === 'string') c.sendRaw(frame);
  else c.send(frame);
  const err = await c.next('error');
  expect(err.data.code, JSON.stringify(err)).toBe(code);
  expect(typeof err.data.message).toBe('string');
  await alive(c);
  return err;
}

describe('signaling on one node', () => {
  let t: TestServer;
  const open: SignalingClient[] = [];
  const peer = async (opts: Parameters<typeof connectPeer>[1] = {}) => {
    const c = await connectPeer(t, opts);
    open.push(c);
    return c;
  };
  /** Two authenticated peers that both joined a fresh room. */
  const twoInRoom = async () => {
    const room = uniqueId('room');
    const a = await peer();
    const b = await peer();
    await join(a, room);
    await join(b, room);
    return { room, a, b };
  };
  beforeAll(async () => {
    t = await startServer({ roomMaxPeers: 3 });
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await t.close();
  });

  it('authenticates with a token frame, ?token= or a SIWE message; one address holds several peers', async () => {
    const account = newAccount();
    const a = await peer({ account });
    const b = await peer({ token: a.token, viaQuery: true });
    expect(a.address).toBe(account.address);
    expect(b.address).toBe(account.address);
    expect(a.peerId).not.toBe(b.peerId);

    const c = openSignaling(t.wsUrl);
    open.push(c);
    await opened(c);
    const message = siweMessage(account, await getNonce(t.url));
    const signature = await account.signMessage({ message });
    c.send({ type: 'auth', address: account.address, message, signature });
    const ok = await c.next('auth_ok');
    expect(ok).toMatchObject({ address: account.address, peerId: expect.any(String) });
    expect(ok.expiresAt).toBeGreaterThan(Date.now());
  });

  it('answers heartbeat and ping with pong, also before authentication', async () => {
    const c = openSignaling(t.wsUrl);
    open.push(c);
    await opened(c);
    c.send({ type: 'heartbeat' });
    expect((await c.next('pong')).serverTime).toBeGreaterThan(Date.now() - 60_000);
    await alive(c);
  });

  it('relays offer/answer/ice between two peers with from and fromAddress set by the server', async () => {
    const room = uniqueId('room');
    const a = await peer();
    const b = await peer();
    expect(await join(a, room)).toMatchObject({ type: 'joined', roomId: room, peerId: a.peerId, peers: [] });
    const joinedB = await join(b, room);
    expect(joinedB.peers).toEqual([{ peerId: a.peerId, address: a.address }]);
    expect(await a.next('peer_joined')).toEqual({
      type: 'peer_joined',
      roomId: room,
      peer: { peerId: b.peerId, address: b.address },
    });

    // a forged `from` is overwritten: identity only comes from the connection
    b.send({
      type: 'offer',
      roomId: room,
      to: a.peerId,
      data: sdp('offer'),
      from: 'evil',
      fromAddress: '0x0',
    });
    expect(await a.next('offer')).toEqual({
      type: 'offer',
      roomId: room,
      from: b.peerId,
      fromAddress: b.address,
      data: sdp('offer'),
    });
    a.send({ type: 'answer', roomId: room, to: b.peerId, data: sdp('answer') });
    expect(await b.next('answer')).toMatchObject({
      from: a.peerId,
      fromAddress: a.address,
      data: sdp('answer'),
    });
    // without `to`: every other peer of the room
    a.send({ type: 'ice', roomId: room, data: candidate });
    expect(await b.next('ice')).toMatchObject({ from: a.peerId, data: candidate });
    b.send({ type: 'ice', roomId: room, data: { candidate: '' } });
    expect((await a.next('ice')).data).toEqual({ candidate: '' });
    expect(a.frames.filter((f) => f.type === 'ice' && f.from === a.peerId)).toEqual([]);
  });

  it('relays the data as the sender wrote it, as text, and nothing of the sender poses as from', async () => {
    const { room, a, b } = await twoInRoom();
    const raw: { text: string; binary: boolean }[] = [];
    a.ws.on('message', (d, binary) => raw.push({ text: String(d), binary }));
    // the SDK's field order: the data bytes go out as they came (key order, escapes, non-ASCII)
    const data = '{"sdp":"v=0 \u00e9 ü 🎥","type":"offer","x-app":{"n":1.50}}';
    b.sendRaw(`{"type":"offer","roomId":"${room}","data":${data},"to":"${a.peerId}"}`);
    await a.next('offer');
    expect(raw.at(-1)).toEqual({
      text: `{"type":"offer","roomId":"${room}","from":"${b.peerId}","fromAddress":"${b.address}","data":${data}}`,
      binary: false,
    });
    // a field of the sender's own next to data, or a different layout: serialised by the server
    const forged = [
      `{"type":"ice","roomId":"${room}","data":{"candidate":"c1"},"from":"evil"}`,
      `{"type":"ice","roomId":"${room}","data":{"candidate":"c2"},"to":"${a.peerId}","fromAddress":"0x0"}`,
      `{"type":"ice","roomId":"${room}","data":{"candidate":"c3"},"fromAddress":"0x0","to":"${a.peerId}"}`,
      `{ "type":"ice","roomId":"${room}","data":{"candidate":"c4"}}`,
    ];
    for (const [i, text] of forged.entries()) {
      b.sendRaw(text);
      const f = await a.next((x) => x.type === 'ice' && x.data.candidate === `c${i + 1}`);
      expect(f).toEqual({
        type: 'ice',
        roomId: room,
        from: b.peerId,
        fromAddress: b.address,
        data: { candidate: `c${i + 1}` },
      });
    }
    // what the check drops (an own __proto__ key in data) is not passed on as sent
    b.sendRaw(
      `{"type":"offer","roomId":"${room}","data":{"type":"offer","sdp":"p","__proto__":{"polluted":1}},"to":"${a.peerId}"}`,
    );
    expect((await a.next('offer')).data).toEqual({ type: 'offer', sdp: 'p' });
    expect(raw.at(-1)!.text).not.toContain('__proto__');
    // a key written twice: every reader takes the last, the one the server checked
    b.sendRaw(`{"type":"ice","roomId":"${room}","data":{"candidate":"first"},"data":{"candidate":"c5"}}`);
    expect((await a.next('ice')).data).toEqual({ candidate: 'c5' });
    expect(raw.every((r) => !r.binary)).toBe(true);
  });

  it('sends peer_left on leave, end + peer_left on end, and peer_left when a peer disconnects', async () => {
    const room = uniqueId('room');
    const [a, b, c] = [await peer(), await peer(), await peer()];
    for (const p of [a, b, c]) await join(p, room);
    c.send({ type: 'leave', roomId: room });
    for (const p of [a, b])
      expect(await p.next('peer_left')).toEqual({ type: 'peer_left', roomId: room, peerId: c.peerId });
    await expectError(c, { type: 'ice', roomId: room, data: candidate }, 'not_in_room');

    b.send({ type: 'end', roomId: room });
    expect(await a.next('end')).toEqual({
      type: 'end',
      roomId: room,
      from: b.peerId,
      fromAddress: b.address,
    });
    expect(await a.next('peer_left')).toMatchObject({ peerId: b.peerId });
    await join(b, room);
    expect(await a.next('peer_joined')).toMatchObject({ peer: { peerId: b.peerId } });
    await b.close();
    expect(await a.next('peer_left')).toMatchObject({ roomId: room, peerId: b.peerId });
    // exactly once each
    expect(a.frames.filter((f) => f.type === 'peer_left' && f.peerId === b.peerId)).toHaveLength(2);
  });

  it('joining twice answers joined again without a second peer_joined', async () => {
    const { room, a, b } = await twoInRoom();
    await a.next('peer_joined');
    expect((await join(b, room)).peers).toEqual([{ peerId: a.peerId, address: a.address }]);
    await alive(a);
    expect(a.frames.filter((f) => f.type === 'peer_joined')).toHaveLength(1);
  });

  it('answers every §3 error code and keeps the connection open after each', async () => {
    const room = uniqueId('room');
    const pre = openSignaling(t.wsUrl);
    open.push(pre);
    await opened(pre);
    await expectError(pre, { type: 'join', roomId: room }, 'not_authenticated');

    const a = await peer();
    await expectError(a, 'not json {', 'bad_request');
    await expectError(a, '[1,2]', 'bad_request');
    await expectError(a, { roomId: room }, 'bad_request');
    const unknown = await expectError(a, { type: 'teleport', roomId: room }, 'bad_request');
    expect(unknown.data.message).toMatch(/teleport/);
    await expectError(a, { type: 'join', roomId: 42 }, 'bad_request');
    await expectError(a, { type: 'offer', roomId: room, data: 'sdp' }, 'bad_request');
    await expectError(a, { type: 'auth' }, 'bad_request');
    await expectError(a, { type: 'join', roomId: 'has spaces' }, 'invalid_room');
    await expectError(a, { type: 'join', roomId: 'x'.repeat(129) }, 'invalid_room');
    await expectError(a, { type: 'join', roomId: '' }, 'invalid_room');
    await expectError(a, { type: 'offer', roomId: room, data: sdp('offer') }, 'not_in_room');
    await expectError(a, { type: 'leave', roomId: room }, 'not_in_room');
    await expectError(a, { type: 'end', roomId: room }, 'not_in_room');
    await join(a, room);
    await expectError(a, { type: 'offer', roomId: room, to: 'nobody', data: sdp('offer') }, 'unknown_peer');
    await expectError(a, { type: 'ice', roomId: room, to: a.peerId, data: candidate }, 'unknown_peer');

    const [b, c, d] = [await peer(), await peer(), await peer()];
    await join(b, room);
    await join(c, room);
    const full = await join(d, room);
    expect(full.data.code).toBe('room_full');
    await alive(d);
    expect(a.frames.some((f) => f.type === 'peer_joined' && f.peer.peerId === d.peerId)).toBe(false);

    // a peer may sit in a bounded number of rooms
    for (let i = 0; i < 16; i++) expect((await join(d, uniqueId(`r${i}`))).type).toBe('joined');
    expect((await join(d, uniqueId('one-too-many'))).data.code).toBe('room_full');
    await alive(d);
  });

  it('refuses a bad auth with auth_failed and closes with 1008', async () => {
    const c = openSignaling(t.wsUrl);
    await opened(c);
    c.send({ type: 'auth', token: 'not-a-token' });
    expect((await c.next('error')).data.code).toBe('auth_failed');
    expect((await c.closed).code).toBe(1008);

    // an auth frame whose address is not the message's is malformed
    const account = newAccount();
    const d = openSignaling(t.wsUrl);
    open.push(d);
    await opened(d);
    const message = siweMessage(account, await getNonce(t.url));
    d.send({
      type: 'auth',
      address: newAccount().address,
      message,
      signature: await account.signMessage({ message }),
    });
    expect((await d.next('error')).data.code).toBe('bad_request');
    await alive(d);
  });

  it('records call stats as histograms and a counter per quality level', async () => {
    const room = uniqueId('room');
    const a = await peer();
    await join(a, room);
    const base = { jitter: 4, bitrate: 64000, codec: 'opus', iceState: 'connected', timestamp: Date.now() };
    a.send({ type: 'stats', roomId: room, data: { ...base, rtt: 50, packetLoss: 0 } });
    a.send({ type: 'stats', roomId: room, data: { ...base, rtt: 250, packetLoss: 2 } });
    a.send({ type: 'stats', roomId: room, data: { ...base, rtt: 450, packetLoss: 7, iceState: 'weird' } });
    a.send({ type: 'stats', roomId: room, data: { ...base, rtt: 900, packetLoss: 30 } });
    await expectError(
      a,
      { type: 'stats', roomId: room, data: { ...base, rtt: -1, packetLoss: 0 } },
      'bad_request',
    );
    await expectError(
      a,
      { type: 'stats', roomId: room, data: { ...base, rtt: 1, packetLoss: 101 } },
      'bad_request',
    );
    await expectError(
      a,
      { type: 'stats', roomId: uniqueId('other'), data: { ...base, rtt: 1, packetLoss: 0 } },
      'not_in_room',
    );
    const text = await (await fetch(`${t.url}/metrics`)).text();
    for (const level of ['excellent', 'good', 'poor', 'critical']) {
      expect(text).toMatch(new RegExp(`p3_signaling_call_quality_total\\{level="${level}"\\} 1\\b`));
    }
    expect(text).toMatch(/p3_signaling_call_rtt_ms_count 4\b/);
    expect(text).toMatch(/p3_signaling_call_packet_loss_pct_bucket\{le="5"\} 2\b/);
    expect(text).toMatch(/p3_signaling_call_jitter_ms_sum 16\b/);
    expect(text).toMatch(/p3_signaling_call_ice_state_total\{state="other"\} 1\b/);
  });
});
