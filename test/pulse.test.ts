import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { openNode, PULSE_TIMINGS, PulseClient, tokenFor } from './helpers/pulse.js';
import { startServer, type TestServer, uniqueId } from './helpers/server.js';
import { newAccount, signIn } from './helpers/siwe.js';

// One in-memory server: the socket contract of PROTOCOL.md §6 (auth, registry, metrics, errors).
let t: TestServer;
beforeAll(async () => {
  // a high rate limit here: the property test sends hundreds of frames (the limit has its own test)
  t = await startServer({ ...PULSE_TIMINGS, rateLimit: 10_000, rateBurst: 10_000 });
});
afterAll(() => t.close());

describe('pulse socket: auth', () => {
  it('authenticates with ?token= and with an auth frame (SIWE token), answering auth_ok with the address', async () => {
    const { token, address } = await signIn(t.url);
    const a = await PulseClient.open(t.wsUrl, token);
    expect(a.all('auth_ok')[0]?.data).toEqual({ address });
    const b = await PulseClient.open(t.wsUrl);
    const ok = await b.request('auth', { token }, 'auth_ok');
    expect(ok.data.address).toBe(address);
    await Promise.all([a.close(), b.close()]);
  });

  it('answers ping before auth, refuses other frames before auth, and closes on a bad token', async () => {
    const c = await PulseClient.open(t.wsUrl);
    const pong = await c.request('ping', undefined, 'pong');
    expect(typeof pong.data.serverTime).toBe('number');
    const err = await c.request('subscribe', { topics: ['nodes'] }, 'error');
    expect(err.data.code).toBe('not_authenticated');
    const bad = await c.request('auth', { token: 'not-a-token' }, 'error');
    expect(bad.data.code).toBe('auth_failed');
    await expect.poll(() => c.closed?.code, { timeout: 5000 }).toBe(1008);
  });
});

describe('pulse socket: registry and metrics', () => {
  it('registers a node; a subscriber gets a snapshot, then node:joined, metrics and node:left', async () => {
    const dash = await PulseClient.open(t.wsUrl, await tokenFor(t));
    const snap = await dash.request('subscribe', { topics: ['nodes', 'metrics'] }, 'snapshot');
    expect(snap.data).toEqual({ nodes: [], metrics: [] });

    const owner = newAccount().address;
    const nodeId = uniqueId('node');
    const node = await openNode(t.wsUrl, await tokenFor(t, owner), {
      nodeId,
      capabilities: ['gpu', 'gpu', 'cpu'],
      region: 'eu-west',
    });
    const joined = await dash.next('node:joined', (f) => f.data.nodeId === nodeId, 0);
    expect(joined.data).toMatchObject({
      nodeId,
      address: owner,
      capabilities: ['gpu', 'cpu'],
      region: 'eu-west',
    });

    node.send('metrics', { cpu: 0.25, memory: 512, latencyMs: 12.5 });
    const m = await dash.next('metrics', (f) => f.data.nodeId === nodeId, 0);
    expect(m.data).toMatchObject({
      nodeId,
      address: owner,
      metrics: { cpu: 0.25, memory: 512, latencyMs: 12.5 },
    });
    expect(Math.abs(m.data.timestamp - Date.now())).toBeLessThan(5000);

    // a later subscriber's snapshot holds the node and its latest metrics
    const late = await PulseClient.open(t.wsUrl, await tokenFor(t));
    const snap2 = await late.request('subscribe', { topics: ['metrics'] }, 'snapshot');
    expect(snap2.data.nodes.map((n: any) => n.nodeId)).toContain(nodeId);
    expect(snap2.data.metrics.find((x: any) => x.nodeId === nodeId)?.metrics.cpu).toBe(0.25);

    await node.close();
    const left = await dash.next('node:left', (f) => f.data.nodeId === nodeId, 0);
    expect(left.data.address).toBe(owner);
    await Promise.all([dash.close(), late.close()]);
  });

  it('a second address cannot take a nodeId (its connection stays); the owner may re-register it', async () => {
    const nodeId = uniqueId('owned');
    const ownerToken = await tokenFor(t);
    const first = await openNode(t.wsUrl, ownerToken, { nodeId, capabilities: [] });
    const thief = await PulseClient.open(t.wsUrl, await tokenFor(t));
    const err = await thief.request('register', { nodeId, capabilities: ['x'] }, 'error');
    expect(err.data).toEqual({ code: 'node_taken', message: expect.stringContaining(nodeId) });
    expect((await thief.request('ping', undefined, 'pong')).type).toBe('pong');
    await first.close();
    // still the owner's after the node left
    const again = await thief.request('register', { nodeId, capabilities: [] }, 'error');
    expect(again.data.code).toBe('node_taken');
    // the owner reconnecting takes it back; the old connection of the owner is told
    const second = await openNode(t.wsUrl, ownerToken, { nodeId, capabilities: [] });
    const third = await PulseClient.open(t.wsUrl, ownerToken);
    await third.request('register', { nodeId, capabilities: ['y'] }, 'registered');
    const replaced = await second.next('error', (f) => f.data.code === 'node_replaced', 0);
    expect(replaced.data.message).toContain(nodeId);
    await Promise.all([thief.close(), second.close(), third.close()]);
  });

  it('metrics and task results from a connection without a node are refused', async () => {
    const c = await PulseClient.open(t.wsUrl, await tokenFor(t));
    expect((await c.request('metrics', { cpu: 1 }, 'error')).data.code).toBe('not_registered');
    const r = await c.request('task:result', { taskId: 'x', ok: true }, 'error');
    expect(r.data.code).toBe('not_registered');
    await c.request('register', { nodeId: uniqueId('n'), capabilities: [] }, 'registered');
    const other = await c.request('register', { nodeId: uniqueId('n'), capabilities: [] }, 'error');
    expect(other.data.code).toBe('bad_request');
    await c.close();
  });
});

describe('pulse socket: slow subscribers', () => {
  it('a dashboard that stops reading gets the newest metrics when it resumes, not a backlog (and is not dropped)', async () => {
    // default heartbeat timings here: a paused reader answers no pings for a while
    const srv = await startServer({ rateLimit: 100_000, rateBurst: 100_000 });
    const nodeId = uniqueId('busy');
    const dash = await PulseClient.open(srv.wsUrl, await tokenFor(srv));
    await dash.request('subscribe', { topics: ['metrics'] }, 'snapshot');
    const node = await openNode(srv.wsUrl, await tokenFor(srv), { nodeId, capabilities: [] });
    const socket = (dash.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    // ~5 KiB frames: far more than the kernel buffers and the server's 1 MiB send cap hold
    const wide: Record<string, number> = {};
    for (let i = 0; i < 60; i++) wide[`metric_${'x'.repeat(50)}_${i}`] = i;
    const N = 3000;
    for (let seq = 1; seq <= N; seq++) node.send('metrics', { ...wide, seq });
    await node.request('ping', undefined, 'pong');
    socket.resume();
    const last = await dash.waitFor((f) => f.type === 'metrics' && f.data.metrics.seq === N, {
      what: 'the newest metrics',
      timeoutMs: 20_000,
    });
    expect(last.data.nodeId).toBe(nodeId);
    const received = dash.all('metrics').length;
    expect(received).toBeLessThan(N);
    console.log(`pulse: a paused dashboard got ${received} of ${N} metrics frames, the newest last`);
    expect(dash.closed).toBeUndefined();
    await Promise.all([dash.close(), node.close()]);
    await srv.close();
  });
});

describe('pulse socket: bad input', () => {
  it('answers wrong shapes with bad_request and keeps the connection', async () => {
    const c = await PulseClient.open(t.wsUrl, await tokenFor(t));
    const cases: unknown[] = [
      { type: 'register', data: { nodeId: '', capabilities: [] } },
      { type: 'register', data: { nodeId: 'a b', capabilities: [] } },
      { type: 'register', data: { nodeId: 'n', capabilities: 'gpu' } },
      { type: 'register', data: { nodeId: 'n', capabilities: [], maxTasks: 0 } },
      { type: 'metrics', data: { cpu: 'high' } },
      { type: 'metrics', data: [1, 2] },
      { type: 'subscribe', data: { topics: ['everything'] } },
      { type: 'subscribe' },
      { type: 'task:result', data: { taskId: 1, ok: true } },
      { type: 'nope', data: {} },
      { type: 42 },
      [],
      'text',
      null,
    ];
    for (const frame of cases) {
      const from = c.frames.length;
      c.sendRaw(JSON.stringify(frame));
      const e = await c.next('error', () => true, from);
      expect(e.data.code).toBe('bad_request');
    }
    const from = c.frames.length;
    c.sendRaw('{not json');
    expect((await c.next('error', () => true, from)).data).toEqual({
      code: 'bad_request',
      message: 'Frame is not valid JSON',
    });
    c.sendRaw(Buffer.from([1, 2, 3]));
    expect((await c.next('error', () => true, from + 1)).data.code).toBe('bad_request');
    expect((await c.request('ping', undefined, 'pong')).type).toBe('pong');
    await c.close();
  });

  it('survives arbitrary frames (property): every frame is answered or accepted, the server stays up', async () => {
    const token = await tokenFor(t);
    const c = await PulseClient.open(t.wsUrl, token);
    const frame = fc.oneof(
      fc.json(),
      fc.record({
        type: fc.constantFrom(
          'register',
          'metrics',
          'subscribe',
          'unsubscribe',
          'task:result',
          'ping',
          'auth',
        ),
        data: fc.anything(),
      }),
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 20 }), async (frames) => {
        for (const f of frames) c.sendRaw(typeof f === 'string' ? f : JSON.stringify(f));
        // the socket is still served: a ping sent after the batch is answered
        await c.request('ping', undefined, 'pong');
      }),
      { numRuns: 25 },
    );
    expect(c.closed).toBeUndefined();
    const fresh = await PulseClient.open(t.wsUrl, token);
    await fresh.close();
    await c.close();
  });

  it('rate limits a connection with the seed message, then serves it again', async () => {
    const limited = await startServer({ ...PULSE_TIMINGS, rateLimit: 5, rateBurst: 5 });
    try {
      const c = await PulseClient.open(limited.wsUrl, await tokenFor(limited));
      for (let i = 0; i < 30; i++) c.send('ping');
      const err = await c.next('error', (f) => f.data.code === 'rate_limited', 0);
      expect(err.data).toEqual({ code: 'rate_limited', message: 'Rate limit exceeded' });
      expect(c.all('pong').length).toBeLessThanOrEqual(6);
      // the bucket refills: the same connection is served again
      await expect
        .poll(
          async () => {
            const from = c.frames.length;
            c.send('ping');
            return c.waitFor(() => true, { from, timeoutMs: 2000 }).then((f) => f.type);
          },
          { timeout: 5000, interval: 300 },
        )
        .toBe('pong');
      expect(c.closed).toBeUndefined();
      await c.close();
    } finally {
      await limited.close();
    }
  });

  it('closes a frame over P3_MAX_FRAME_BYTES with 1009', async () => {
    const c = await PulseClient.open(t.wsUrl, await tokenFor(t));
    c.sendRaw(JSON.stringify({ type: 'metrics', data: { x: 1 }, pad: 'x'.repeat(70_000) }));
    await expect.poll(() => c.closed?.code, { timeout: 5000 }).toBe(1009);
    expect(c.ws.readyState).toBe(WebSocket.CLOSED);
  });
});
