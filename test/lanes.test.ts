import type { Socket } from 'node:net';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/server/auth/tokens.js';
import { compareStreamIds } from '../src/server/engine/types.js';
import { createSession, dataOf, openStream, publish } from './helpers/lanes.js';
import { startServer, TEST_SECRET, TEST_SERVICE_KEY, type TestServer, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

/** A token like the server's, expiring in `ttlSec` (P3_TOKEN_TTL cannot go below 60 s). */
const shortToken = (address: string, ttlSec: number) =>
  signToken(TEST_SECRET, address, Math.floor(Date.now() / 1000), ttlSec);

describe('SSE lanes (one node)', () => {
  let t: TestServer;
  let user: Awaited<ReturnType<typeof signIn>>;
  let other: Awaited<ReturnType<typeof signIn>>;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    t = await startServer({ sseRetryMs: 20, sseKeepAliveMs: 200, laneHistory: 5000 });
    t.server.httpServer.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    user = await signIn(t.url);
    other = await signIn(t.url);
  });
  afterAll(() => t.close());

  it('creates unguessable sessions for a signed-in user only', async () => {
    const res = await fetch(`${t.url}/v1/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as any;
    expect(body.sid).toMatch(/^[A-Za-z0-9_-]{24,}$/);
    expect(body.expiresAt).toBeGreaterThan(Date.now());
    expect(body.sid).not.toBe(await createSession(t.url, user.token));
    const anon = await fetch(`${t.url}/v1/session`, { method: 'POST' });
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as any).error.code).toBe('unauthorized');
  });

  it('streams with the seed headers, retry, a ready event and exact event frames', async () => {
    const sid = await createSession(t.url, user.token);
    const s = await openStream(t.url, `/v1/session/${sid}/lane/manifests`, { token: user.token });
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(s.headers['x-accel-buffering']).toBe('no');
    expect(s.headers.connection).toBe('keep-alive');
    const [ready] = await s.waitForEvents(1);
    expect(s.parser.retry).toBe(20);
    expect(ready).toMatchObject({ event: 'ready', id: '0-0' });
    expect(JSON.parse(ready!.data)).toEqual({ sid, lanes: ['manifests'], resumed: false });
    const { status, body } = await publish(t.url, sid, 'manifests', [
      { type: 'manifest', data: { cid: 'a', text: 'line\nbreak' } },
      { type: 'manifest', data: 2 },
    ]);
    expect(status).toBe(200);
    expect(body.ids).toHaveLength(2);
    const events = await s.waitForEvents(3);
    expect(events.slice(1)).toEqual([
      { event: 'manifest', id: body.ids[0], data: '{"cid":"a","text":"line\\nbreak"}' },
      { event: 'manifest', id: body.ids[1], data: '2' },
    ]);
    await waitFor(() => s.parser.comments >= 2, { what: 'keep-alive comments' });
    s.close();
  });

  it('sends the access lane uncacheable, with ?token= as browsers do', async () => {
    const sid = await createSession(t.url, user.token);
    const s = await openStream(t.url, `/v1/session/${sid}/lane/access?token=${user.token}`);
    expect(s.status).toBe(200);
    expect(s.headers['cache-control']).toContain('no-store');
    expect(s.headers.pragma).toBe('no-cache');
    expect(s.headers['referrer-policy']).toBe('no-referrer');
    s.close();
  });

  it('answers 401, 403 and 404 before opening a stream', async () => {
    const sid = await createSession(t.url, user.token);
    const cases: [string, string | undefined, number, string][] = [
      [`/v1/session/${sid}/lane/manifests`, undefined, 401, 'unauthorized'],
      [`/v1/session/${sid}/lane/manifests`, 'not-a-token', 401, 'unauthorized'],
      [`/v1/session/${sid}/lane/manifests`, other.token, 403, 'forbidden'],
      [`/v1/session/${sid}/stream`, other.token, 403, 'forbidden'],
      [`/v1/session/AAAAAAAAAAAAAAAAAAAAAAAA/lane/catalog`, user.token, 404, 'not_found'],
      [`/v1/session/x/lane/catalog`, user.token, 404, 'not_found'],
      [`/v1/session/${sid}/lane/secrets`, user.token, 404, 'not_found'],
      [`/v1/session/${sid}/lane/receipts`, user.token, 404, 'not_found'],
      [`/v1/session/${sid}/stream?lanes=manifests,nope`, user.token, 400, 'bad_request'],
    ];
    for (const [path, token, status, code] of cases) {
      const s = await openStream(t.url, path, token ? { token } : {});
      expect([path, s.status]).toEqual([path, status]);
      await s.ended;
      expect(JSON.parse(s.body()).error.code).toBe(code);
    }
    for (const bad of ['abc', '1-2-3', 'm:1-0,m:2-0', '1-0\u0000']) {
      const s = await openStream(
        t.url,
        `/v1/session/${sid}/lane/catalog?lastEventId=${encodeURIComponent(bad)}`,
        {
          token: user.token,
        },
      );
      expect([bad, s.status]).toEqual([bad, 400]);
    }
  });

  it('refuses CR, LF and NUL in types and ids, reserved types, big batches, and callers without the key', async () => {
    const sid = await createSession(t.url, user.token);
    const s = await openStream(t.url, `/v1/session/${sid}/lane/catalog`, { token: user.token });
    await s.waitForEvents(1);
    for (const event of [
      { type: 'x\nid: 99999999999999-0', data: 1 },
      { type: 'x\r', data: 1 },
      { type: 'x\u0000', data: 1 },
      { type: 'ok', id: 'a\nretry: 1', data: 1 },
      { type: '', data: 1 },
      { type: 'lost', data: 1 },
      { data: 1 },
    ]) {
      const r = await publish(t.url, sid, 'catalog', event);
      expect([event, r.status, r.body.error?.code]).toEqual([event, 400, 'bad_request']);
    }
    const mixed = await publish(t.url, sid, 'catalog', [{ type: 'fine' }, { type: 'bad\n' }]);
    expect(mixed.status).toBe(400);
    const big = await publish(
      t.url,
      sid,
      'catalog',
      Array.from({ length: 1001 }, () => ({ type: 'x' })),
    );
    expect(big.status).toBe(413);
    const huge = await publish(t.url, sid, 'catalog', { type: 'x', data: 'é'.repeat(40_000) }); // 80 KB
    expect([huge.status, huge.body.error.code]).toEqual([413, 'payload_too_large']);
    expect((await publish(t.url, sid, 'catalog', { type: 'x' }, 'wrong-key-0123456789')).status).toBe(401);
    expect((await publish(t.url, sid, 'nope', { type: 'x' })).status).toBe(404);
    expect((await publish(t.url, 'AAAAAAAAAAAAAAAAAAAAAAAA', 'catalog', { type: 'x' })).status).toBe(404);
    await expect(t.server.lanes.publish(sid, 'catalog', { type: 'a\r\nb' })).rejects.toMatchObject({
      code: 'bad_request',
    });
    // nothing of the refused events reached the stream
    const ok = await publish(t.url, sid, 'catalog', { type: 'after', data: 'x' });
    const events = await s.waitForEvents(2);
    expect(events.map((e) => e.event)).toEqual(['ready', 'after']);
    expect(events[1]!.id).toBe(ok.body.ids[0]);
    s.close();
  });

  it('delivers an event whose pub/sub notification was lost, on the next periodic read', async () => {
    const sid = await createSession(t.url, user.token);
    const s = await openStream(t.url, `/v1/session/${sid}/lane/catalog`, { token: user.token });
    await s.waitForEvents(1);
    // appended as the lane does, but never announced (as if Redis dropped the message)
    const id = await t.server.engine.streamAppend(`lanes:${sid}:catalog`, 'silent\n{"n":1}');
    const [, e] = await s.waitForEvents(2, 5_000);
    expect(e).toEqual({ event: 'silent', id, data: '{"n":1}' });
    s.close();
  });

  it('counts a retried publish once when it carries an id', async () => {
    const sid = await createSession(t.url, user.token);
    const s = await openStream(t.url, `/v1/session/${sid}/lane/catalog`, { token: user.token });
    await s.waitForEvents(1);
    const first = await publish(t.url, sid, 'catalog', { type: 'item', id: 'pub-1', data: 1 });
    const again = await publish(t.url, sid, 'catalog', [
      { type: 'item', id: 'pub-1', data: 1 },
      { type: 'item', id: 'pub-2', data: 2 },
    ]);
    expect(again.body.duplicates).toBe(1);
    expect(again.body.ids[0]).toBe(first.body.ids[0]);
    await s.waitForEvents(3);
    expect(dataOf(s.parser.events, 'item')).toEqual([1, 2]);
    s.close();
  });

  it('resumes through dropped connections with no gap and no duplicate (eventsource client, 3,000 events)', async () => {
    const sid = await createSession(t.url, user.token);
    const es = new EventSource(`${t.url}/v1/session/${sid}/lane/manifests?token=${user.token}`);
    const got: { id: string; n: number }[] = [];
    let opens = 0;
    es.addEventListener('open', () => opens++);
    es.addEventListener('tick', (e) => got.push({ id: e.lastEventId, n: JSON.parse(e.data).n }));
    await waitFor(() => opens === 1, { what: 'open' });
    const total = 3000;
    for (let b = 0; b < total / 100; b++) {
      const events = Array.from({ length: 100 }, (_, i) => ({ type: 'tick', data: { n: b * 100 + i } }));
      await t.server.lanes.publish(sid, 'manifests', events);
      if (b % 3 === 1) {
        // drop mid-stream (the client has part of what was published), wait for the reconnect
        const before = opens;
        for (const sock of sockets) sock.destroy();
        await waitFor(() => opens > before, { what: 'reconnect' });
      }
    }
    await waitFor(() => got.length >= total, { timeoutMs: 30_000, what: `${total} events` });
    es.close();
    expect(opens).toBeGreaterThanOrEqual(11);
    expect(got.map((g) => g.n)).toEqual(Array.from({ length: total }, (_, i) => i));
    for (let i = 1; i < got.length; i++) expect(compareStreamIds(got[i]!.id, got[i - 1]!.id)).toBe(1);
  });

  it('resumes every lane of the multiplexed stream from the one id the browser kept (eventsource client)', async () => {
    const sid = await createSession(t.url, user.token);
    const es = new EventSource(`${t.url}/v1/session/${sid}/stream?token=${user.token}`);
    const got: string[] = [];
    let opens = 0;
    es.addEventListener('open', () => opens++);
    for (const lane of ['manifests', 'access', 'catalog']) {
      es.addEventListener(lane, (e) => got.push(`${lane}:${JSON.parse(e.data).data}`));
    }
    await waitFor(() => opens === 1, { what: 'open' });
    const round = async (n: number) => {
      for (const lane of ['manifests', 'access', 'catalog'] as const) {
        await t.server.lanes.publish(sid, lane, { type: 'x', data: n });
      }
    };
    await round(1);
    await waitFor(() => got.length === 3, { what: 'first round' });
    for (const sock of sockets) sock.destroy();
    await round(2);
    await waitFor(() => opens === 2, { what: 'reconnect' });
    await round(3);
    await waitFor(() => got.length >= 9, { what: 'three rounds' });
    es.close();
    const lane = (l: string) => got.filter((g) => g.startsWith(`${l}:`));
    expect(lane('manifests')).toEqual(['manifests:1', 'manifests:2', 'manifests:3']);
    expect(lane('access')).toEqual(['access:1', 'access:2', 'access:3']);
    expect(lane('catalog')).toEqual(['catalog:1', 'catalog:2', 'catalog:3']);
  });

  it('closes the stream with an `expired` event when its token expires, and refuses the token after', async () => {
    const sid = await createSession(t.url, user.token);
    const token = await shortToken(user.address, 2);
    const s = await openStream(t.url, `/v1/session/${sid}/lane/manifests`, { token });
    expect(s.status).toBe(200);
    expect(await s.ended).toBe('end');
    expect(s.parser.events.map((e) => e.event)).toEqual(['ready', 'expired']);
    const again = await openStream(t.url, `/v1/session/${sid}/lane/manifests`, { token });
    expect(again.status).toBe(401);
  });

  it('caps streams per address, answers HEAD without a stream, and exports metrics', async () => {
    const own = await startServer({ maxConnectionsPerAddress: 2, serviceKey: undefined });
    try {
      const u = await signIn(own.url);
      const sid = await createSession(own.url, u.token);
      const path = `/v1/session/${sid}/lane/catalog`;
      const open = [
        await openStream(own.url, path, { token: u.token }),
        await openStream(own.url, path, { token: u.token }),
      ];
      const third = await openStream(own.url, path, { token: u.token });
      expect(third.status).toBe(429);
      await third.ended;
      expect(JSON.parse(third.body()).error.code).toBe('too_many_connections');
      open[0]!.close();
      await waitFor(
        async () => (await openStream(own.url, path, { token: u.token, method: 'HEAD' })).status === 200,
        {
          what: 'a free slot',
        },
      );
      const head = await openStream(own.url, path, { token: u.token, method: 'HEAD' });
      expect(head.headers['content-type']).toBe('text/event-stream');
      expect(await head.ended).toBe('end');
      // no P3_SERVICE_KEY: publishing and reading receipts are disabled
      const r = await publish(own.url, sid, 'catalog', { type: 'x' });
      expect([r.status, r.body.error.code]).toEqual([403, 'service_disabled']);
      const text = await (await fetch(`${own.url}/metrics`)).text();
      for (const name of ['p3_lanes_streams', 'p3_lanes_feeds', 'p3_lanes_stream_closes_total']) {
        expect(text).toContain(name);
      }
      open[1]!.close();
    } finally {
      await own.close();
    }
  });

  it('takes receipts from the owner (idempotent by id) and serves them to services', async () => {
    const sid = await createSession(t.url, user.token);
    const post = (body: unknown, token = user.token) =>
      fetch(`${t.url}/v1/session/${sid}/lane/receipts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const one = await post({ type: 'played', id: 'r-1', data: { cid: 'a' } });
    expect(one.status).toBe(202);
    expect(await one.json()).toEqual({ accepted: 1, duplicates: 0 });
    const retry = await post([
      { type: 'played', id: 'r-1', data: { cid: 'a' } },
      { type: 'played', id: 'r-2', data: { cid: 'b' } },
      { type: 'seen', data: null },
    ]);
    expect(await retry.json()).toEqual({ accepted: 2, duplicates: 1 });
    expect((await post(Array.from({ length: 101 }, () => ({ type: 'x' })))).status).toBe(413);
    expect((await post({ type: 'x', data: 'x'.repeat(70_000) })).status).toBe(413);
    expect((await post({ type: 'a\nb' })).status).toBe(400);
    expect((await post({ type: 'ok', id: 'x\r' })).status).toBe(400);
    expect((await post({ type: 'ok' }, other.token)).status).toBe(403);
    expect((await post({ type: 'ok' }, 'bad')).status).toBe(401);

    const read = (q: string, key = TEST_SERVICE_KEY) =>
      fetch(`${t.url}/v1/receipts${q}`, { headers: { authorization: `Bearer ${key}` } });
    expect((await read('', 'wrong-key-0123456789')).status).toBe(401);
    expect((await read('?after=nope')).status).toBe(400);
    expect((await read('?limit=0')).status).toBe(400);
    const page = (await (await read('?limit=1000')).json()) as any;
    const mine = page.receipts.filter((r: any) => r.sid === sid);
    expect(mine.map((r: any) => [r.type, r.receiptId, r.data])).toEqual([
      ['played', 'r-1', { cid: 'a' }],
      ['played', 'r-2', { cid: 'b' }],
      ['seen', undefined, null],
    ]);
    expect(mine.every((r: any) => r.address === user.address && r.receivedAt > 0)).toBe(true);
    const first = (await (await read('?limit=1')).json()) as any;
    const rest = (await (await read(`?after=${first.next}&limit=1000`)).json()) as any;
    expect([...first.receipts, ...rest.receipts]).toEqual(page.receipts);
    const empty = (await (await read(`?after=${page.next}`)).json()) as any;
    expect(empty).toEqual({ receipts: [], next: page.next });
  });
});
