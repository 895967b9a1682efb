import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, dataOf, openStream, type RawStream } from './helpers/lanes.js';
import { startServer, type TestServer, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

const ticks = (from: number, n: number, type = 'tick', pad = '') =>
  Array.from({ length: n }, (_, i) => ({ type, data: { n: from + i, pad } }));

describe('SSE lanes: overflow, multiplexing, slow readers, shutdown', () => {
  let t: TestServer;
  let user: Awaited<ReturnType<typeof signIn>>;
  beforeAll(async () => {
    t = await startServer({ laneHistory: 50, sendBufferBytes: 64 * 1024, sseRetryMs: 20 });
    user = await signIn(t.url);
  });
  afterAll(() => t.close());

  it('tells a client that comes back too late what it lost, then replays what is retained', async () => {
    const sid = await createSession(t.url, user.token);
    const first = await t.server.lanes.publish(sid, 'catalog', ticks(0, 5));
    const lastSeen = first.ids[2]!; // the client had read n = 0..2
    await t.server.lanes.publish(sid, 'catalog', ticks(5, 100)); // 105 in all, 50 retained
    const s = await openStream(t.url, `/v1/session/${sid}/lane/catalog`, {
      token: user.token,
      lastEventId: lastSeen,
    });
    const events = await s.waitForEvents(52);
    expect(events[0]!.event).toBe('ready');
    expect(events[1]!.event).toBe('lost');
    const lost = JSON.parse(events[1]!.data);
    expect(lost).toMatchObject({ lane: 'catalog', lastEventId: lastSeen, reason: 'trimmed' });
    expect(events[1]!.id).toBe(lost.retainedAfter);
    expect(dataOf(events, 'tick').map((d) => d.n)).toEqual(Array.from({ length: 50 }, (_, i) => 55 + i));
    // a client that is still within history is not told anything was lost
    const ok = await openStream(t.url, `/v1/session/${sid}/lane/catalog`, {
      token: user.token,
      lastEventId: events[40]!.id!,
    });
    const replay = await ok.waitForEvents(12);
    expect(replay.map((e) => e.event)).toEqual(['ready', ...Array(11).fill('tick')]);
    // an id from the future (not issued by this lane) is reported, and live events flow
    const future = await openStream(t.url, `/v1/session/${sid}/lane/catalog`, {
      token: user.token,
      lastEventId: '99999999999999-0',
    });
    const [, unknown] = await future.waitForEvents(2);
    expect(JSON.parse(unknown!.data).reason).toBe('unknown_id');
    await t.server.lanes.publish(sid, 'catalog', ticks(105, 1));
    expect(dataOf(await future.waitForEvents(3), 'tick')).toEqual([{ n: 105, pad: '' }]);
    for (const x of [s, ok, future]) x.close();
  });

  it('multiplexes the three lanes on one stream, and one Last-Event-ID resumes all of them', async () => {
    const sid = await createSession(t.url, user.token);
    await t.server.lanes.publish(sid, 'access', ticks(0, 2, 'key')); // before the stream: not sent
    const s = await openStream(t.url, `/v1/session/${sid}/stream`, { token: user.token });
    const [ready] = await s.waitForEvents(1);
    expect(ready!.id).toMatch(/^m:0-0,a:\d+-\d+,c:0-0$/);
    await t.server.lanes.publish(sid, 'manifests', ticks(0, 2));
    await t.server.lanes.publish(sid, 'access', ticks(2, 1, 'key'));
    await t.server.lanes.publish(sid, 'catalog', ticks(0, 1, 'item'));
    const events = await s.waitForEvents(5);
    expect(events.slice(1).map((e) => e.event)).toEqual(['manifests', 'manifests', 'access', 'catalog']);
    expect(JSON.parse(events[3]!.data)).toEqual({ type: 'key', data: { n: 2, pad: '' } });
    const resumeFrom = events[2]!.id!; // had both manifests, not yet access or catalog
    s.close();
    await t.server.lanes.publish(sid, 'manifests', ticks(2, 3));
    await t.server.lanes.publish(sid, 'catalog', ticks(1, 2, 'item'));

    const again = await openStream(t.url, `/v1/session/${sid}/stream`, {
      token: user.token,
      lastEventId: resumeFrom,
    });
    const got = await again.waitForEvents(8);
    const byLane = (lane: string) =>
      got.filter((e) => e.event === lane).map((e) => JSON.parse(e.data).data.n);
    expect(byLane('manifests')).toEqual([2, 3, 4]);
    expect(byLane('access')).toEqual([2]);
    expect(byLane('catalog')).toEqual([0, 1, 2]);
    expect(new Set(got.map((e) => e.id)).size).toBe(got.length);
    // a lane stream takes its part of a multiplexed id
    const lane = await openStream(
      t.url,
      `/v1/session/${sid}/lane/manifests?lastEventId=${encodeURIComponent(resumeFrom)}`,
      {
        token: user.token,
      },
    );
    expect(dataOf(await lane.waitForEvents(4), 'tick').map((d) => d.n)).toEqual([2, 3, 4]);
    // `0` replays everything retained on every lane
    const all = await openStream(t.url, `/v1/session/${sid}/stream`, { token: user.token, lastEventId: '0' });
    const everything = await all.waitForEvents(12);
    expect(everything.filter((e) => e.event === 'access').map((e) => JSON.parse(e.data).data.n)).toEqual([
      0, 1, 2,
    ]);
    all.close();
    // ?lanes= narrows the stream
    const only = await openStream(t.url, `/v1/session/${sid}/stream?lanes=access`, { token: user.token });
    const [r] = await only.waitForEvents(1);
    expect(r!.id).toMatch(/^a:\d+-\d+$/);
    expect(only.headers.pragma).toBe('no-cache');
    for (const x of [again, lane, only]) x.close();
  });

  it('cuts off a reader that stops reading, which then resumes and loses nothing', async () => {
    const big = await startServer({ laneHistory: 100_000, sendBufferBytes: 64 * 1024 });
    try {
      const u = await signIn(big.url);
      const sid = await createSession(big.url, u.token);
      const s = await openStream(big.url, `/v1/session/${sid}/lane/manifests`, { token: u.token });
      await s.waitForEvents(1);
      s.pause();
      const pad = 'x'.repeat(16 * 1024);
      let published = 0;
      const cut = async () =>
        (await big.server.metrics.registry.getSingleMetricAsString('p3_lanes_stream_closes_total')).includes(
          'reason="slow"',
        );
      while (!(await cut())) {
        await big.server.lanes.publish(sid, 'manifests', ticks(published, 20, 'tick', pad));
        published += 20;
        if (published > 4000) throw new Error('never cut off');
        await new Promise((r) => setImmediate(r));
      }
      await big.server.lanes.publish(sid, 'manifests', ticks(published, 20, 'tick', pad));
      published += 20;
      s.resume();
      await s.ended;
      const before = dataOf(s.parser.events, 'tick').map((d) => d.n);
      expect(before.length).toBeLessThan(published);
      const again = await openStream(big.url, `/v1/session/${sid}/lane/manifests`, {
        token: u.token,
        lastEventId: s.parser.lastId()!,
      });
      await waitFor(() => dataOf(again.parser.events, 'tick').length >= published - before.length, {
        timeoutMs: 20_000,
        what: 'the rest',
      });
      const after = dataOf(again.parser.events, 'tick').map((d) => d.n);
      expect([...before, ...after]).toEqual(Array.from({ length: published }, (_, i) => i));
      expect(again.parser.events.some((e) => e.event === 'lost')).toBe(false);
      again.close();
    } finally {
      await big.close();
    }
  });

  it('ends every open stream on close()', async () => {
    const own = await startServer();
    const u = await signIn(own.url);
    const sid = await createSession(own.url, u.token);
    const streams: RawStream[] = [];
    for (const path of ['lane/manifests', 'lane/access', 'stream']) {
      const s = await openStream(own.url, `/v1/session/${sid}/${path}`, { token: u.token });
      await s.waitForEvents(1);
      streams.push(s);
    }
    const closing = own.close();
    expect(await Promise.all(streams.map((s) => s.ended))).toEqual(['end', 'end', 'end']);
    await closing;
  });
});
