import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startServer, type TestServer, uniqueId, waitFor } from './helpers/server.js';
import { connectPeer, join, opened, openSignaling, type SignalingClient } from './helpers/signaling.js';
import { signIn } from './helpers/siwe.js';

const KNOWN = ['auth', 'join', 'offer', 'answer', 'ice', 'end', 'leave', 'stats', 'heartbeat', 'ping'];

describe('signaling limits and liveness', () => {
  const servers: TestServer[] = [];
  const clients: SignalingClient[] = [];
  const server = async (config: Parameters<typeof startServer>[0]) => {
    const t = await startServer(config);
    servers.push(t);
    return t;
  };
  const peer = async (t: TestServer, opts: Parameters<typeof connectPeer>[1] = {}) => {
    const c = await connectPeer(t, opts);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await Promise.all(servers.map((t) => t.close()));
  });

  let fuzz: TestServer;
  beforeAll(async () => {
    fuzz = await server({ rateLimit: 1_000_000, rateBurst: 1_000_000 });
  });

  it('answers random and malformed frames with bad_request and never crashes (fast-check)', async () => {
    const c = await peer(fuzz);
    const notJson = fc.string().filter((s) => {
      try {
        JSON.parse(s);
        return false;
      } catch {
        return true;
      }
    });
    const notObject = fc
      .jsonValue()
      .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))
      .map((v) => JSON.stringify(v));
    const unknownType = fc
      .record({
        type: fc.string({ maxLength: 40 }).filter((t) => !KNOWN.includes(t)),
        roomId: fc.string(),
        data: fc.jsonValue(),
      })
      .map((f) => JSON.stringify(f));
    const nonStringType = fc
      .record({ type: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string())) })
      .map((f) => JSON.stringify(f));
    const wrongFields = fc
      .record({
        type: fc.constantFrom('join', 'offer', 'answer', 'ice', 'end', 'leave', 'stats'),
        roomId: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer()), fc.object()),
        data: fc.jsonValue(),
        to: fc.option(fc.oneof(fc.integer(), fc.string()), { nil: undefined }),
      })
      .map((f) => JSON.stringify(f));
    const wrongData = fc
      .record({
        type: fc.constantFrom('offer', 'answer', 'stats'),
        roomId: fc.constant('room-1'),
        data: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.jsonValue())),
      })
      .map((f) => JSON.stringify(f));
    const badAuth = fc
      .record({
        type: fc.constant('auth'),
        token: fc.oneof(fc.integer(), fc.constant(''), fc.array(fc.string()), fc.constant(null)),
      })
      .map((f) => JSON.stringify(f));
    const huge = fc
      .integer({ min: 10_000, max: 60_000 })
      .chain((n) =>
        fc.constantFrom(
          'x'.repeat(n),
          JSON.stringify({ type: 'y'.repeat(n) }),
          JSON.stringify({ type: 'offer', roomId: 7, data: { type: 'offer', sdp: 'z'.repeat(n) } }),
          `${'['.repeat(n / 10)}`,
          `${'['.repeat(n / 10)}${']'.repeat(n / 10)}`,
        ),
      );
    const frame = fc.oneof(
      notJson,
      notObject,
      unknownType,
      nonStringType,
      wrongFields,
      wrongData,
      badAuth,
      huge,
    );
    await fc.assert(
      fc.asyncProperty(frame, async (raw) => {
        c.sendRaw(raw);
        const answer = await c.next(() => true);
        expect(answer, raw.slice(0, 200)).toMatchObject({ type: 'error', data: { code: 'bad_request' } });
      }),
      { numRuns: 300 },
    );
    c.sendRaw(Buffer.from([1, 2, 3]));
    expect((await c.next('error')).data.code).toBe('bad_request');
    c.send({ type: 'ping' });
    await c.next('pong');
    expect((await fetch(`${fuzz.url}/healthz`)).status).toBe(200);
  });

  it('closes a connection that sends a frame over P3_MAX_FRAME_BYTES with 1009', async () => {
    const c = await peer(fuzz);
    c.sendRaw(
      JSON.stringify({ type: 'offer', roomId: 'r', data: { type: 'offer', sdp: 'a'.repeat(70_000) } }),
    );
    expect((await c.closed).code).toBe(1009);
    const d = await peer(fuzz);
    d.send({ type: 'ping' });
    await d.next('pong');
  });

  it('refuses a foreign Origin at upgrade and serves an allowed one', async () => {
    const t = await server({ allowedOrigins: ['https://app.example'] });
    const evil = openSignaling(t.wsUrl, { headers: { origin: 'https://evil.example' } });
    await expect(opened(evil)).rejects.toThrow(/403/);
    const ok = openSignaling(t.wsUrl, { headers: { origin: 'https://app.example' } });
    clients.push(ok);
    await opened(ok);
    ok.send({ type: 'ping' });
    await ok.next('pong');
  });

  it('closes an unauthenticated socket at the auth deadline with 1008', async () => {
    const t = await server({ authTimeoutMs: 300 });
    const started = Date.now();
    const c = openSignaling(t.wsUrl);
    await opened(c);
    c.send({ type: 'ping' }); // pings do not authenticate
    await c.next('pong');
    expect((await c.next('error')).data.code).toBe('not_authenticated');
    expect((await c.closed).code).toBe(1008);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('terminates a silent client after the heartbeat timeout and its room hears peer_left', async () => {
    const t = await server({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 500 });
    const room = uniqueId('room');
    const { token } = await signIn(t.url);
    // a client that neither sends heartbeats nor answers WebSocket pings (half-open TCP)
    const silent = new WebSocket(`${t.wsUrl}/signaling?token=${token}`, { autoPong: false });
    const frames: any[] = [];
    silent.on('message', (d) => frames.push(JSON.parse(String(d))));
    await waitFor(() => frames.find((f) => f.type === 'auth_ok'), { what: 'auth_ok' });
    silent.send(JSON.stringify({ type: 'join', roomId: room }));
    await waitFor(() => frames.find((f) => f.type === 'joined'), { what: 'joined' });
    const lastSent = Date.now();
    const watcher = await peer(t);
    await join(watcher, room);
    const closed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
    expect(await closed).toBe(1006);
    expect(Date.now() - lastSent).toBeGreaterThanOrEqual(450);
    expect(await watcher.next('peer_left', 5_000)).toMatchObject({ roomId: room });

    // answering ping frames alone keeps a client alive past the timeout (§7)
    const quiet = await peer(t);
    let pings = 0;
    quiet.ws.on('ping', () => pings++);
    await waitFor(() => pings >= 10, { what: '10 pings' });
    expect(quiet.isOpen()).toBe(true);
    expect(watcher.isOpen()).toBe(true);
  });

  it('limits connections per address', async () => {
    const t = await server({ maxConnectionsPerAddress: 2 });
    const { token, account } = await signIn(t.url);
    const first = await peer(t, { token });
    await peer(t, { token });
    const third = openSignaling(t.wsUrl);
    await opened(third);
    third.send({ type: 'auth', token });
    expect((await third.next('error')).data.code).toBe('too_many_connections');
    expect((await third.closed).code).toBe(1008);
    // a token refresh on a connection of an address at its limit is not one more connection
    const fresh = await signIn(t.url, account);
    first.send({ type: 'auth', token: fresh.token });
    expect((await first.next('auth_ok')).address).toBe(fresh.address);
    expect(first.isOpen()).toBe(true);
  });

  it('answers frames over the rate limit with rate_limited and keeps the connection', async () => {
    const t = await server({ rateLimit: 5, rateBurst: 5 });
    const c = await peer(t);
    for (let i = 0; i < 12; i++) c.send({ type: 'ping' });
    const err = await c.next('error');
    expect(err.data).toEqual({ code: 'rate_limited', message: 'Rate limit exceeded' });
    await waitFor(() => c.frames.length >= 12, { what: '12 answers' });
    expect(c.frames.filter((f) => f.type === 'pong').length).toBeLessThanOrEqual(6);
    await waitFor(
      async () => {
        c.send({ type: 'ping' });
        const f = await c.next((x) => x.type === 'pong' || x.type === 'error');
        return f.type === 'pong';
      },
      { intervalMs: 250, what: 'a pong after the bucket refills' },
    );
    expect(c.isOpen()).toBe(true);
  });

  it('drops a peer that stops reading once its send buffer passes the cap', async () => {
    const t = await server({ sendBufferBytes: 16 << 10, rateLimit: 1_000_000, rateBurst: 1_000_000 });
    const room = uniqueId('room');
    const reader = await peer(t);
    const sender = await peer(t);
    await join(reader, room);
    await join(sender, room);
    (reader.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const offer = { type: 'offer', roomId: room, data: { type: 'offer', sdp: 's'.repeat(60_000) } };
    let gone = false;
    void sender.next('peer_left', 30_000).then(() => {
      gone = true;
    });
    for (let sent = 0; sent < 2_000 && !gone; sent++) {
      sender.send(offer);
      if (sent % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => gone, { timeoutMs: 30_000, what: 'peer_left of the slow reader' });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/p3_signaling_closed_total\{reason="slow_consumer"\} 1\b/);
    expect(sender.isOpen()).toBe(true);
    reader.ws.terminate(); // its paused socket would never see the server's close
  });
});
