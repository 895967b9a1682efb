import { EventSource } from 'eventsource';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds } from '../src/server/engine/types.js';
import { createSession, dataOf, openStream, publish } from './helpers/lanes.js';
import { REDIS_URL, startCluster, TEST_SERVICE_KEY, type TestServer, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

describe('SSE lanes across two nodes (Redis)', () => {
  let a: TestServer;
  let b: TestServer;
  let user: Awaited<ReturnType<typeof signIn>>;
  beforeAll(async () => {
    [a, b] = await startCluster({ sseRetryMs: 20, laneHistory: 5000 });
    user = await signIn(a.url);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('delivers an event published on node A to a stream on node B (eventsource client)', async () => {
    const sid = await createSession(a.url, user.token);
    const es = new EventSource(`${b.url}/v1/session/${sid}/lane/access?token=${user.token}`);
    const keys: { id: string; data: unknown }[] = [];
    es.addEventListener('key', (e) => keys.push({ id: e.lastEventId, data: JSON.parse(e.data) }));
    await new Promise((resolve, reject) => {
      es.addEventListener('ready', resolve);
      es.addEventListener('error', reject);
    });
    const r = await publish(a.url, sid, 'access', { type: 'key', data: { kid: 'k1', key: 'c2VjcmV0' } });
    expect(r.status).toBe(200);
    await waitFor(() => keys.length === 1, { what: 'the key on node B' });
    expect(keys[0]).toEqual({ id: r.body.ids[0], data: { kid: 'k1', key: 'c2VjcmV0' } });
    es.close();
  });

  it('resumes on the other node with no gap and no duplicate while both nodes publish (4,000 events)', async () => {
    const sid = await createSession(a.url, user.token);
    const nodes = [a, b];
    let stream = await openStream(a.url, `/v1/session/${sid}/lane/catalog`, { token: user.token });
    const received: { id: string; key: string }[] = [];
    let lost = 0;
    const take = () => {
      for (const e of stream.parser.events) {
        if (e.event === 'item') received.push({ id: e.id!, key: JSON.parse(e.data).k });
        if (e.event === 'lost') lost++;
      }
    };
    // two publishers, one per node, racing: their notifications may arrive out of order
    const perPublisher = 2000;
    const publisher = (node: TestServer, name: string) => async () => {
      for (let i = 0; i < perPublisher; i += 100) {
        const events = Array.from({ length: 100 }, (_, j) => ({
          type: 'item',
          data: { k: `${name}${i + j}` },
        }));
        await node.server.lanes.publish(sid, 'catalog', events);
      }
    };
    let done = false;
    const publishing = Promise.all([publisher(a, 'a')(), publisher(b, 'b')()]).then(() => {
      done = true;
    });
    const items = () => stream.parser.events.filter((e) => e.event === 'item').length;
    let hops = 0;
    let lastId = (await stream.waitForEvents(1))[0]!.id!;
    while (!done) {
      await waitFor(() => items() >= 150 || done, { timeoutMs: 20_000, what: 'some events' });
      // drop mid-stream, come back on the other node with the last id seen
      stream.close();
      take();
      // like a browser: the last id seen on any connection (one may have closed before `ready`)
      lastId = stream.parser.lastId() ?? lastId;
      hops++;
      stream = await openStream(nodes[hops % 2]!.url, `/v1/session/${sid}/lane/catalog`, {
        token: user.token,
        lastEventId: lastId,
      });
    }
    await publishing;
    const total = 2 * perPublisher;
    await waitFor(() => received.length + items() >= total, { timeoutMs: 40_000, what: `${total} events` });
    take();
    stream.close();
    expect(received).toHaveLength(total);
    for (let i = 1; i < received.length; i++)
      expect(compareStreamIds(received[i]!.id, received[i - 1]!.id)).toBe(1);
    expect(new Set(received.map((r) => r.key)).size).toBe(total);
    // each publisher's events arrive in its order
    for (const p of ['a', 'b']) {
      const mine = received.filter((r) => r.key.startsWith(p)).map((r) => Number(r.key.slice(1)));
      expect(mine).toEqual(Array.from({ length: perPublisher }, (_, i) => i));
    }
    expect(hops).toBeGreaterThan(2);
    expect(lost).toBe(0);
  }, 90_000);

  it('signals overflow on Redis history too', async () => {
    const [c, d] = await startCluster({ laneHistory: 20 });
    try {
      const sid = await createSession(c.url, user.token);
      const { ids } = await c.server.lanes.publish(sid, 'manifests', [{ type: 'm', data: 0 }]);
      await d.server.lanes.publish(
        sid,
        'manifests',
        Array.from({ length: 30 }, (_, i) => ({ type: 'm', data: i + 1 })),
      );
      const s = await openStream(d.url, `/v1/session/${sid}/lane/manifests`, {
        token: user.token,
        lastEventId: ids[0]!,
      });
      const events = await s.waitForEvents(22);
      expect(JSON.parse(events[1]!.data)).toMatchObject({ reason: 'trimmed', lastEventId: ids[0] });
      expect(dataOf(events, 'm')).toEqual(Array.from({ length: 20 }, (_, i) => i + 11));
      s.close();
    } finally {
      await Promise.all([c.close(), d.close()]);
    }
  });

  it('counts a retried receipt once across nodes and lets services read receipts over HTTP and from Redis', async () => {
    const sid = await createSession(a.url, user.token);
    const post = (node: TestServer, body: unknown) =>
      fetch(`${node.url}/v1/session/${sid}/lane/receipts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    expect(await post(a, { type: 'played', id: 'once', data: 1 })).toEqual({
      status: 202,
      body: { accepted: 1, duplicates: 0 },
    });
    expect((await post(b, { type: 'played', id: 'once', data: 1 })).body).toEqual({
      accepted: 0,
      duplicates: 1,
    });
    const page = (await (
      await fetch(`${b.url}/v1/receipts?limit=1000&after=${Date.now() - 60_000}-0`, {
        headers: { authorization: `Bearer ${TEST_SERVICE_KEY}` },
      })
    ).json()) as any;
    expect(page.receipts.filter((r: any) => r.sid === sid)).toEqual([
      expect.objectContaining({ sid, address: user.address, type: 'played', receiptId: 'once', data: 1 }),
    ]);
    const redis = new Redis(REDIS_URL);
    try {
      const rows = await redis.xrevrange('p3:lanes:receipts', '+', '-', 'COUNT', 200);
      const mine = rows.map(([, f]) => JSON.parse(f[1]!)).filter((r) => r.sid === sid);
      expect(mine).toEqual([expect.objectContaining({ type: 'played', receiptId: 'once' })]);
    } finally {
      redis.disconnect();
    }
  });
});
