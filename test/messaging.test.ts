import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { DirectMessage, PresenceState } from '../src/protocol/messaging.js';
import { createMemoryEngine } from '../src/server/engine/index.js';
import {
  atLeast,
  type Client,
  call,
  closeAll,
  connect,
  dropTransport,
  newUser,
  next,
  reconnect,
  record,
  sessionOf,
  type User,
} from './helpers/messaging.js';
import { startServer, type TestServer, waitFor } from './helpers/server.js';

// One in-memory node: the contract of §4 end to end with real Socket.IO clients.
describe('messaging (memory engine)', () => {
  let srv: TestServer;
  const open: Client[] = [];
  const client = async (u: User, opts = {}, setup?: (c: Client) => void) => {
    const c = await connect(srv.url, u.token, opts, setup);
    open.push(c);
    return c;
  };

  /** A counter's value on /metrics (0 when it has no sample yet). */
  const counter = async (series: string) => {
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };

  beforeAll(async () => {
    srv = await startServer({ typingTimeoutMs: 300, rateLimit: 200, rateBurst: 400 });
  });
  afterAll(async () => {
    closeAll(...open);
    await srv.close();
  });

  it('refuses a handshake without a valid token with connect_error "unauthorized"', async () => {
    await expect(connect(srv.url, undefined)).rejects.toThrow('unauthorized');
    await expect(connect(srv.url, 'not-a-token')).rejects.toThrow('unauthorized');
  });

  it('delivers a DM to every device of the recipient, with `from` from the token only', async () => {
    const [alice, bob, mallory] = await Promise.all([newUser(srv.url), newUser(srv.url), newUser(srv.url)]);
    const a = await client(alice);
    const [b1, b2] = await Promise.all([client(bob), client(bob)]);
    const got1 = record(b1, 'message:receive');
    const got2 = record(b2, 'message:receive');
    const answer = await call(a, 'message:send', {
      to: bob.address.toLowerCase(),
      content: 'hi',
      from: mallory.address,
    });
    expect(answer).toMatchObject({
      ok: true,
      id: expect.stringMatching(/^\d+-\d+$/),
      timestamp: expect.any(Number),
    });
    await atLeast(got1, 1);
    await atLeast(got2, 1);
    for (const m of [got1[0]!, got2[0]!]) {
      expect(m).toEqual({
        id: answer.id,
        from: alice.address,
        to: bob.address,
        content: 'hi',
        encrypted: false,
        timestamp: answer.timestamp,
      });
    }
  });

  it('keeps messages for an offline recipient and delivers them in order; ack removes them and tells the sender', async () => {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const series = [
      'p3_messaging_messages_total{source="socket"}',
      'p3_messaging_deliveries_total{path="inbox"}',
      'p3_messaging_deliveries_total{path="live"}',
    ];
    const before = await Promise.all(series.map(counter));
    const a = await client(alice);
    const delivered = record(a, 'message:delivered');
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await call(a, 'message:send', { to: bob.address, content: `m${i}`, encrypted: i % 2 === 0 });
      ids.push(r.id);
    }
    let got: DirectMessage[] = [];
    const b = await client(bob, {}, (c) => {
      got = record(c, 'message:receive');
    });
    await atLeast(got, 30, 'inbox messages');
    expect(got.map((m) => m.content)).toEqual(ids.map((_, i) => `m${i}`));
    expect(got.map((m) => m.encrypted)).toEqual(ids.map((_, i) => i % 2 === 0));
    expect(await call(b, 'message:ack', { ids })).toEqual({ ok: true, removed: 30 });
    await atLeast(delivered, 1, 'delivery receipts');
    expect(delivered[0]).toMatchObject({ ids, by: bob.address });
    // acknowledged twice: nothing more is removed and no second receipt is sent
    expect(await call(b, 'message:ack', { ids: ids.slice(0, 3) })).toEqual({ ok: true, removed: 0 });
    b.close();
    let after: DirectMessage[] = [];
    await client(bob, {}, (c) => {
      after = record(c, 'message:receive');
    });
    await call(a, 'message:send', { to: bob.address, content: 'fresh' });
    await atLeast(after, 1);
    expect(after.map((m) => m.content)).toEqual(['fresh']);
    expect(delivered).toHaveLength(1);
    // 31 stored; 30 reached bob from the inbox when he connected, "fresh" live
    const now = await Promise.all(series.map(counter));
    expect(now.map((v, i) => v - before[i]!)).toEqual([31, 30, 1]);
    // a second scrape counts nothing twice
    expect(await Promise.all(series.map(counter))).toEqual(now);
  });

  it('forwards read receipts to the sender with the reader from the token', async () => {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const [a, b] = await Promise.all([client(alice), client(bob)]);
    const r = await call(a, 'message:send', { to: bob.address, content: 'read me' });
    const receipt = next(a, 'message:read');
    expect(await call(b, 'message:read', { from: alice.address, ids: [r.id] })).toEqual({ ok: true });
    expect(await receipt).toMatchObject({ ids: [r.id], by: bob.address, timestamp: expect.any(Number) });
  });

  it('stores a retried send with the same clientMsgId once, answering with the same id', async () => {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const a = await client(alice);
    const send = { to: bob.address, content: 'once', clientMsgId: 'c-1' };
    const [r1, r2] = await Promise.all([call(a, 'message:send', send), call(a, 'message:send', send)]);
    const r3 = await call(a, 'message:send', send);
    expect(r1.ok && r2.ok && r3.ok).toBe(true);
    expect(new Set([r1.id, r2.id, r3.id]).size).toBe(1);
    let got: DirectMessage[] = [];
    await client(bob, {}, (c) => {
      got = record(c, 'message:receive');
    });
    await call(a, 'message:send', { to: bob.address, content: 'marker' });
    await waitFor(() => got.some((m) => m.content === 'marker'));
    expect(got.filter((m) => m.content === 'once')).toHaveLength(1);
  });

  it('answers bad payloads with ack errors and keeps the connection', async () => {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const a = await client(alice);
    const errors = record(a, 'error');
    const bad = async (event: string, payload: unknown, code = 'bad_request') => {
      const r = await call(a, event, payload);
      expect(r, `${event} ${JSON.stringify(payload)?.slice(0, 60)}`).toMatchObject({
        ok: false,
        error: { code, message: expect.any(String) },
      });
    };
    await bad('message:send', { content: 'x' });
    await bad('message:send', { to: 'bob', content: 'x' });
    await bad('message:send', { to: bob.address, content: 42 });
    await bad('message:send', 'not an object');
    await bad('message:send', null);
    await bad('message:send', { to: bob.address, content: 'x', clientMsgId: '' });
    await bad('message:send', { to: bob.address, content: 'é'.repeat(40_000) }, 'payload_too_large');
    await bad('message:ack', { ids: ['nope'] });
    await bad('message:ack', { ids: [] });
    await bad('presence:subscribe', { addresses: 'x' });
    await bad('presence:update', { status: 'invisible' });
    await bad('call:invite', { to: bob.address, roomId: 'has space', media: 'audio' });
    await bad('call:invite', { to: alice.address, roomId: 'self', media: 'audio' });
    await bad('no:such:event', {});
    // without an ack callback the error comes back as an `error` event
    (a as unknown as { emit(e: string, p: unknown): void }).emit('typing:start', {
      conversationId: 'nobody',
    });
    await atLeast(errors, 1, 'error events');
    expect(errors[0]).toMatchObject({ code: 'bad_request' });
    expect(await call(a, 'message:send', { to: bob.address, content: 'still here' })).toMatchObject({
      ok: true,
    });
  });

  it('closes a connection that sends a packet over 1 MiB', async () => {
    const u = await newUser(srv.url);
    const c = await client(u, { transports: ['websocket'] });
    const closed = new Promise<string>((resolve) => c.once('disconnect', (reason) => resolve(reason)));
    c.emit('message:send', { to: u.address, content: 'x'.repeat(1_100_000) }, () => {});
    expect(await closed).toMatch(/transport (close|error)/);
  });

  it('enforces the per-address and per-node connection limits', async () => {
    const s = await startServer({ maxConnectionsPerAddress: 2, maxConnections: 3 });
    const conns: Client[] = [];
    try {
      const [u, v] = await Promise.all([newUser(s.url), newUser(s.url)]);
      conns.push(await connect(s.url, u.token), await connect(s.url, u.token));
      await expect(connect(s.url, u.token)).rejects.toThrow('too_many_connections');
      // the refused session is released once its client has gone
      const first = await waitFor(() => connect(s.url, v.token).catch(() => undefined));
      conns.push(first);
      await expect(connect(s.url, v.token)).rejects.toThrow();
      conns.pop()?.close();
      await waitFor(async () => {
        const c = await connect(s.url, v.token).catch(() => undefined);
        if (c) conns.push(c);
        return c;
      });
    } finally {
      closeAll(...conns);
      await s.close();
    }
  });

  it('gives back node slots and pending counts as sessions end, over WebSocket and long-polling', async () => {
    const s = await startServer({ maxConnections: 2 });
    const gauge = async (name: string) => {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    };
    try {
      const u = await newUser(s.url);
      for (const transports of [['websocket'], ['polling']] as const) {
        for (let round = 0; round < 3; round++) {
          const a = await waitFor(() =>
            connect(s.url, u.token, { transports: [...transports] }).catch(() => undefined),
          );
          const b = await waitFor(() =>
            connect(s.url, u.token, { transports: [...transports] }).catch(() => undefined),
          );
          // the node is full: a third is refused, and a refused or unauthenticated session
          // leaves no pending count behind
          await expect(connect(s.url, u.token, { transports: [...transports] })).rejects.toThrow();
          a.close();
          b.close();
          await expect(
            connect(s.url, 'not-a-token', { transports: [...transports] }).catch((e) => e),
          ).resolves.toBeInstanceOf(Error);
        }
        await waitFor(async () => (await gauge('p3_messaging_pending_ips')) === 0 || undefined);
      }
    } finally {
      await s.close();
    }
  });

  it("frees a dead peer's node slot when its session times out, not after ws's close handshake", async () => {
    const s = await startServer({ maxConnections: 1, heartbeatIntervalMs: 300, heartbeatTimeoutMs: 800 });
    try {
      const u = await newUser(s.url);
      // a raw WebSocket client that authenticates, then stops reading (a peer gone dark)
      const dead = new WebSocket(`${s.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      await new Promise<void>((resolve, reject) => {
        dead.on('message', (m) => {
          const t = m.toString();
          if (t.startsWith('0')) dead.send(`40${JSON.stringify({ token: u.token })}`);
          else if (t.startsWith('40')) resolve();
          else if (t.startsWith('44')) reject(new Error(t));
        });
        dead.on('error', reject);
      });
      (dead as unknown as { _socket: { pause(): void } })._socket.pause();
      await expect(connect(s.url, u.token)).rejects.toThrow();
      // ping timeout ≈ 0.8 s; the close handshake with a dead peer would take ws's 30 s
      const started = Date.now();
      const next = await waitFor(() => connect(s.url, u.token).catch(() => undefined), { timeoutMs: 10_000 });
      expect(Date.now() - started).toBeLessThan(10_000);
      next.close();
      dead.terminate();
    } finally {
      await s.close();
    }
  });

  it("renews its devices' presence leases a quarter of their lifetime after start, each once", async () => {
    let t = Date.now();
    const engine = createMemoryEngine();
    const renewed: string[] = [];
    const leaseAdd = engine.leaseAdd.bind(engine);
    engine.leaseAdd = (key, member, ttlMs) => {
      if (key.startsWith('presence:dev:')) renewed.push(member);
      return leaseAdd(key, member, ttlMs);
    };
    // a sweep every second, the clock frozen (no renewal is due until it moves); the old rule,
    // a renewal at the first sweep, showed here when the connects beat that sweep
    const s = await startServer({ presenceLeaseMs: 3_000 }, { engine, now: () => t });
    try {
      const users = await Promise.all([newUser(s.url), newUser(s.url), newUser(s.url)]);
      const clients = await Promise.all(users.map((u) => connect(s.url, u.token)));
      await waitFor(() => renewed.length >= 3, { what: 'the leases of the connects' });
      const atConnect = [...renewed];
      // sweeps go by: devices that just connected are not renewed
      await new Promise((r) => setTimeout(r, 1_500));
      expect(renewed).toEqual(atConnect);
      // 7 h on (a quarter of the 24 h lease is 6 h): the next sweep renews each device once
      t += 7 * 3600_000;
      await waitFor(() => renewed.length >= 6, { what: 'the renewals' });
      await new Promise((r) => setTimeout(r, 1_200));
      expect(renewed.slice(3).sort()).toEqual([...atConnect].sort());
      for (const c of clients) c.close();
    } finally {
      await s.close();
    }
  });

  it('settles every user of a dead node, more than a slice of them, offline, past a failed one', async () => {
    const engine = createMemoryEngine();
    // one user of the first slice cannot be settled (an engine error): the others still are
    const broken = `0x${'0'.repeat(39)}5`;
    const leaseMembers = engine.leaseMembers.bind(engine);
    engine.leaseMembers = (key) =>
      key === `presence:dev:${broken}` ? Promise.reject(new Error('engine down')) : leaseMembers(key);
    const s = await startServer({ presenceLeaseMs: 300 }, { engine });
    try {
      const offline = new Set<string>();
      const off = await engine.subscribe('p3:presence', (m) => {
        const p = JSON.parse(m) as PresenceState;
        if (p.status === 'offline') offline.add(p.address);
      });
      // a node that died holding 600 devices (its lease already ran out)
      const dead = `dead-${Math.random().toString(36).slice(2)}`;
      const users = Array.from({ length: 600 }, (_, i) => `0x${i.toString(16).padStart(40, '0')}`);
      await engine.hset(`presence:node:${dead}`, Object.fromEntries(users.map((a, i) => [`sid${i}`, a])));
      await Promise.all(
        users.map((a, i) => engine.leaseAdd(`presence:dev:${a}`, `${dead}:sid${i}`, 86_400_000)),
      );
      await engine.leaseAdd('presence:nodes', dead, 1);
      await waitFor(() => users.every((a) => a === broken || offline.has(a)), {
        timeoutMs: 10_000,
        what: 'the 599 others offline',
      });
      expect(offline.has(broken)).toBe(false);
      expect(await engine.hgetall(`presence:node:${dead}`)).toEqual({});
      expect(await engine.leaseMembers(`presence:dev:${users[599]}`)).toEqual([]);
      await off();
    } finally {
      await s.close();
    }
  });

  it('rate-limits events per connection with rate_limited', async () => {
    const s = await startServer({ rateLimit: 5, rateBurst: 5 });
    try {
      const u = await newUser(s.url);
      const c = await connect(s.url, u.token);
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => call(c, 'presence:update', { status: 'online' })),
      );
      const limited = answers.filter((r) => !r.ok);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0].error).toEqual({ code: 'rate_limited', message: 'Rate limit exceeded' });
      c.close();
    } finally {
      await s.close();
    }
  });

  it('presence: snapshot then changes, offline with lastSeen, every change on p3:presence', async () => {
    const [watcher, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const published: PresenceState[] = [];
    const off = await srv.server.engine.subscribe('p3:presence', (m) => published.push(JSON.parse(m)));
    const w = await client(watcher);
    const updates = record(w, 'presence:update');
    const snap = await call(w, 'presence:subscribe', { addresses: [bob.address] });
    expect(snap).toEqual({
      ok: true,
      presence: [{ address: bob.address, status: 'offline', lastSeen: null }],
    });
    const b1 = await client(bob);
    const b2 = await client(bob);
    await waitFor(() => updates.some((u) => u.status === 'online'));
    await call(b1, 'presence:update', { status: 'away' });
    await waitFor(() => updates.some((u) => u.status === 'away'));
    b1.close();
    await call(b2, 'presence:update', { status: 'busy' });
    await waitFor(() => updates.some((u) => u.status === 'busy'));
    expect(updates.some((u) => u.status === 'offline')).toBe(false); // one device is still there
    const before = Date.now();
    b2.close();
    await waitFor(() => updates.some((u) => u.status === 'offline'));
    const offline = updates.find((u) => u.status === 'offline')!;
    expect(offline.address).toBe(bob.address);
    expect(offline.lastSeen).toBeGreaterThanOrEqual(before);
    await waitFor(() => published.filter((p) => p.address === bob.address).length >= 4);
    expect(published.filter((p) => p.address === bob.address).map((p) => p.status)).toEqual([
      'online',
      'away',
      'busy',
      'offline',
    ]);
    const again = await call(w, 'presence:subscribe', { addresses: [bob.address] });
    expect(again.presence[0]).toMatchObject({ status: 'offline', lastSeen: offline.lastSeen });
    await off();
  });

  it('typing indicators reach the other party and expire by themselves', async () => {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const ws = { transports: ['websocket'] };
    const [a, b] = await Promise.all([client(alice, ws), client(bob, ws)]);
    const seen = record(b, 'typing:indicator');
    const stops = () => seen.filter((t) => !t.isTyping).length;
    a.emit('typing:start', { conversationId: bob.address });
    // `true` is volatile (may be dropped under load), the expiry's `false` is not
    await waitFor(() => stops() >= 1, { what: 'the expiry after 300 ms of silence' });
    expect(seen.at(-1)).toEqual({ from: alice.address, conversationId: alice.address, isTyping: false });
    for (const t of seen) expect(t).toMatchObject({ from: alice.address, conversationId: alice.address });
    a.emit('typing:start', { conversationId: bob.address });
    a.emit('typing:stop', { conversationId: bob.address });
    await waitFor(() => stops() >= 2, { what: 'the stop' });
    // a burst is rate-limited (dropped silently)
    for (let i = 0; i < 20; i++) a.emit('typing:start', { conversationId: bob.address });
    await waitFor(() => stops() >= 3, { what: 'the expiry of the burst' });
    expect(seen.filter((t) => t.isTyping).length).toBeLessThan(2 + 10);
    expect(stops()).toBe(3);
  });

  it('p3:broadcast reaches every client; p3:messages becomes a DM from a backend', async () => {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const [a, b] = await Promise.all([client(alice), client(bob)]);
    const ann = [next(a, 'system:announcement'), next(b, 'system:announcement')];
    await srv.server.engine.publish('p3:broadcast', JSON.stringify({ title: 'maintenance', at: 1 }));
    expect(await Promise.all(ann)).toEqual([
      { title: 'maintenance', at: 1 },
      { title: 'maintenance', at: 1 },
    ]);
    const dm = next(b, 'message:receive');
    await srv.server.engine.publish('p3:messages', 'not json');
    await srv.server.engine.publish(
      'p3:messages',
      JSON.stringify({ from: alice.address.toLowerCase(), to: bob.address, content: 'from a service' }),
    );
    expect(await dm).toMatchObject({ from: alice.address, to: bob.address, content: 'from a service' });
  });

  it('loses and reorders nothing when messages arrive while the recipient connects', async () => {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const a = await client(alice);
    for (let i = 0; i < 150; i++) a.emit('message:send', { to: bob.address, content: String(i) }, () => {});
    let got: DirectMessage[] = [];
    await client(bob, {}, (c) => {
      got = record(c, 'message:receive');
    });
    for (let i = 150; i < 300; i++) a.emit('message:send', { to: bob.address, content: String(i) }, () => {});
    await atLeast(got, 300, 'messages');
    await new Promise((r) => setImmediate(r));
    expect(got.map((m) => Number(m.content))).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const ids = got.map((m) => m.id);
    expect(new Set(ids).size).toBe(300);
  });

  it('connection-state recovery on one node: the owner recovers what it missed, another token starts fresh', async () => {
    const [alice, mallory, carol] = await Promise.all([newUser(srv.url), newUser(srv.url), newUser(srv.url)]);
    const victim = await client(alice, { transports: ['websocket'] });
    await call(victim, 'presence:subscribe', { addresses: [carol.address] });
    const updates = record(victim, 'presence:update') as PresenceState[];
    const carolClient = await client(carol);
    await waitFor(() => updates.length > 0, { what: 'a room event (an offset)' });
    const { pid, offset } = sessionOf(victim);
    await dropTransport(victim);
    carolClient.close(); // an event missed while away
    let leaked: PresenceState[] = [];
    const other = await client(mallory, { auth: { token: mallory.token, pid, offset } }, (c) => {
      leaked = record(c, 'presence:update') as PresenceState[];
    });
    expect(other.recovered).toBe(false);
    await call(other, 'presence:subscribe', { addresses: [mallory.address] });
    expect(leaked.filter((u) => u.address === carol.address)).toEqual([]);
    expect(await reconnect(victim)).toBe(true);
    await waitFor(() => updates.some((u) => u.address === carol.address && u.status === 'offline'), {
      what: 'the missed update',
    });
    victim.close();
  });
});
