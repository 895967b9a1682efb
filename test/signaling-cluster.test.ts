import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from './helpers/process.js';
import {
  REDIS_URL,
  startCluster,
  startServer,
  type TestServer,
  uniqueId,
  waitFor,
} from './helpers/server.js';
import { connectPeer, join, type SignalingClient } from './helpers/signaling.js';

const TIMING = { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 };
const offer = { type: 'offer', sdp: 'v=0\r\n' };
const candidate = { candidate: 'candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host', sdpMid: '0' };

async function metric(t: { url: string }, name: string): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const escaped = name.replace(/[{}"]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${escaped} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('signaling across nodes sharing one Redis', () => {
  let n1: TestServer;
  let n2: TestServer;
  let redis: Redis;
  const clients: SignalingClient[] = [];
  const peer = async (t: { url: string; wsUrl: string }) => {
    const c = await connectPeer(t);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    [n1, n2] = await startCluster(TIMING);
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await Promise.all([n1?.close(), n2?.close()]);
    redis?.disconnect();
  });

  it('relays between peers on different nodes, and locally between peers on one node', async () => {
    const room = uniqueId('room');
    const a = await peer(n1);
    const b = await peer(n2);
    const c = await peer(n1);
    await join(a, room);
    expect((await join(b, room)).peers).toEqual([{ peerId: a.peerId, address: a.address }]);
    expect(await a.next('peer_joined')).toMatchObject({ peer: { peerId: b.peerId, address: b.address } });
    expect((await join(c, room)).peers).toHaveLength(2);
    await a.next((f) => f.type === 'peer_joined' && f.peer.peerId === c.peerId);
    await b.next((f) => f.type === 'peer_joined' && f.peer.peerId === c.peerId);

    b.send({ type: 'offer', roomId: room, to: a.peerId, data: offer });
    expect(await a.next('offer')).toEqual({
      type: 'offer',
      roomId: room,
      from: b.peerId,
      fromAddress: b.address,
      data: offer,
    });
    a.send({ type: 'answer', roomId: room, to: b.peerId, data: { type: 'answer', sdp: 'v=0\r\n' } });
    expect(await b.next('answer')).toMatchObject({ from: a.peerId, fromAddress: a.address });
    // broadcast from n2 reaches both peers on n1; from n1 reaches n1 locally and n2 remotely
    b.send({ type: 'ice', roomId: room, data: candidate });
    expect(await a.next('ice')).toMatchObject({ from: b.peerId, data: candidate });
    expect(await c.next('ice')).toMatchObject({ from: b.peerId });
    a.send({ type: 'ice', roomId: room, data: candidate });
    expect(await b.next('ice')).toMatchObject({ from: a.peerId });
    expect(await c.next('ice')).toMatchObject({ from: a.peerId });
    // a targeted relay only reaches its target; between two peers of one node, without Redis
    const remoteBefore = await metric(n1, 'p3_signaling_relayed_total{path="remote"}');
    a.send({ type: 'offer', roomId: room, to: c.peerId, data: offer });
    await c.next('offer');
    expect(await metric(n1, 'p3_signaling_relayed_total{path="remote"}')).toBe(remoteBefore);
    a.send({ type: 'ice', roomId: room, to: b.peerId, data: candidate });
    await b.next((f) => f.type === 'ice' && f.from === a.peerId);
    expect(b.frames.filter((f) => f.type === 'offer')).toHaveLength(0);

    b.send({ type: 'offer', roomId: room, to: 'no-such-peer', data: offer });
    expect((await b.next('error')).data.code).toBe('unknown_peer');
  });

  it('delivers a relay addressed to a peer that joined on another node a moment ago', async () => {
    for (let i = 0; i < 5; i++) {
      const room = uniqueId('room');
      const a = await peer(n1);
      const b = await peer(n2);
      await join(a, room);
      const joined = await join(b, room);
      expect(joined.type).toBe('joined');
      // a may not have heard peer_joined yet: the server looks b up in the engine
      a.send({ type: 'offer', roomId: room, to: b.peerId, data: offer });
      expect(await b.next('offer')).toMatchObject({ from: a.peerId });
      b.send({ type: 'answer', roomId: room, to: a.peerId, data: { type: 'answer', sdp: 'v=0\r\n' } });
      expect(await a.next('answer')).toMatchObject({ from: b.peerId });
    }
  });

  it('sends peer_left across nodes on leave, end and disconnect, once each', async () => {
    const room = uniqueId('room');
    const a = await peer(n1);
    const b = await peer(n2);
    await join(a, room);
    await join(b, room);
    await a.next('peer_joined');
    b.send({ type: 'leave', roomId: room });
    expect(await a.next('peer_left')).toEqual({ type: 'peer_left', roomId: room, peerId: b.peerId });
    await join(b, room);
    await a.next('peer_joined');
    a.send({ type: 'end', roomId: room });
    expect(await b.next('end')).toEqual({
      type: 'end',
      roomId: room,
      from: a.peerId,
      fromAddress: a.address,
    });
    expect(await b.next('peer_left')).toMatchObject({ peerId: a.peerId });
    await join(a, room);
    await b.next('peer_joined');
    await a.close();
    expect(await b.next('peer_left')).toMatchObject({ peerId: a.peerId });
    b.send({ type: 'ping' });
    await b.next('pong');
    expect(b.frames.filter((f) => f.type === 'peer_left')).toHaveLength(2);
    expect(await redis.zcard(`p3:signaling:room:${room}`)).toBe(1);
  });

  it('tells a peer whose membership another node reported expired that it is out, and lets it rejoin', async () => {
    const room = uniqueId('room');
    const a = await peer(n1);
    const b = await peer(n2);
    await join(a, room);
    await join(b, room);
    await a.next('peer_joined');
    // what a surviving node publishes when it finds a's lease run out (e.g. n1 stalled)
    await redis.publish(`p3:signaling:room:${room}`, `L\nanother-node\n${a.peerId}\n${a.address}`);
    expect(await a.next('peer_left')).toEqual({ type: 'peer_left', roomId: room, peerId: a.peerId });
    expect(await b.next('peer_left')).toEqual({ type: 'peer_left', roomId: room, peerId: a.peerId });
    a.send({ type: 'ice', roomId: room, data: candidate });
    expect((await a.next('error')).data.code).toBe('not_in_room');
    expect((await join(a, room)).peers).toEqual([{ peerId: b.peerId, address: b.address }]);
    expect(await b.next('peer_joined')).toMatchObject({ peer: { peerId: a.peerId } });
  });

  it('keeps a room within P3_ROOM_MAX_PEERS when peers on two nodes join at once', async () => {
    const [m1, m2] = await startCluster({ ...TIMING, roomMaxPeers: 2 });
    try {
      const room = uniqueId('room');
      const ps = await Promise.all([peer(m1), peer(m2), peer(m1), peer(m2), peer(m1)]);
      const answers = await Promise.all(ps.map((p) => join(p, room)));
      const joined = answers.filter((f) => f.type === 'joined');
      expect(joined.length, JSON.stringify(answers)).toBe(2);
      for (const f of answers) if (f.type === 'error') expect(f.data.code).toBe('room_full');
      expect(await redis.zcard(`p3:signaling:room:${room}`)).toBe(joined.length);
    } finally {
      await Promise.all([m1.close(), m2.close()]);
    }
  });

  it('tells the other node at once when a node shuts down gracefully', async () => {
    const n3 = await startServer({ redisUrl: REDIS_URL, ...TIMING });
    const room = uniqueId('room');
    const a = await peer(n1);
    const b = await connectPeer(n3);
    await join(a, room);
    await join(b, room);
    await a.next('peer_joined');
    await n3.close();
    expect(await a.next('peer_left')).toMatchObject({ peerId: b.peerId });
    // reported by the closing node itself, not found later by a sweep
    const left = await n3.server.metrics.registry.getSingleMetricAsString('p3_signaling_left_total');
    expect(left).toMatch(/reason="disconnect"} 1\b/);
  });

  describe('a node killed with SIGKILL', () => {
    let proc: ServerProcess;
    afterAll(async () => {
      await proc?.stop('SIGKILL');
    });

    // spawning a server process through tsx takes seconds on a loaded machine
    it('makes its peers leave the rooms on the surviving nodes, peer_left once per peer', {
      timeout: 90_000,
    }, async () => {
      proc = await spawnServer(
        {
          REDIS_URL,
          WS_HEARTBEAT_INTERVAL: String(TIMING.heartbeatIntervalMs),
          WS_HEARTBEAT_TIMEOUT: String(TIMING.heartbeatTimeoutMs),
        },
        60_000,
      );
      const room = uniqueId('room');
      const lonely = uniqueId('lonely');
      const x = await connectPeer(proc);
      const w = await connectPeer(proc);
      const y = await peer(n1);
      const z = await peer(n2);
      await join(x, room);
      await join(w, lonely);
      await join(y, room);
      await join(z, room);
      await x.next((f) => f.type === 'peer_joined' && f.peer.peerId === z.peerId);

      const killedAt = Date.now();
      expect(await proc.stop('SIGKILL')).toBe('SIGKILL');
      const [ly, lz] = await Promise.all([y.next('peer_left', 15_000), z.next('peer_left', 15_000)]);
      expect(ly).toEqual({ type: 'peer_left', roomId: room, peerId: x.peerId });
      expect(lz).toEqual({ type: 'peer_left', roomId: room, peerId: x.peerId });
      const detectedMs = Date.now() - killedAt;
      expect(detectedMs).toBeLessThan(10_000);

      // two more sweeps on each node: a second report of the same peer would have arrived by now
      const s1 = await metric(n1, 'p3_signaling_sweeps_total');
      const s2 = await metric(n2, 'p3_signaling_sweeps_total');
      await waitFor(async () => (await metric(n1, 'p3_signaling_sweeps_total')) >= s1 + 2, {
        what: 'sweeps',
      });
      await waitFor(async () => (await metric(n2, 'p3_signaling_sweeps_total')) >= s2 + 2, {
        what: 'sweeps',
      });
      expect(y.frames.filter((f) => f.type === 'peer_left')).toHaveLength(1);
      expect(z.frames.filter((f) => f.type === 'peer_left')).toHaveLength(1);
      expect(y.isOpen() && z.isOpen()).toBe(true);

      // the room only the dead node used is emptied by a survivor's sweep (no leak in Redis)
      await waitFor(async () => (await redis.exists(`p3:signaling:room:${lonely}`)) === 0, {
        what: 'the abandoned room to be collected',
      });
      expect(await redis.zcard(`p3:signaling:room:${room}`)).toBe(2);
    });
  });
});
