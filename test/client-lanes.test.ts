import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBackoffPolicy } from '../src/client/backoff.js';
import { createLaneClient, type LaneEvent, type LaneSubscription } from '../src/client/lanes.js';
import { platform } from './helpers/client.js';
import { type ServerProcess, spawnServer } from './helpers/process.js';
import { REDIS_URL, startServer, TEST_SERVICE_KEY, type TestServer, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

const fast = createBackoffPolicy({ stepsMs: [50, 100, 200], jitter: 'none' });

async function publish(
  baseUrl: string,
  sid: string,
  lane: string,
  events: { type: string; data: unknown }[],
) {
  const res = await fetch(`${baseUrl}/v1/session/${sid}/lane/${lane}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_SERVICE_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 200) throw new Error(`publish: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { ids: string[] }).ids;
}

describe('lane client', () => {
  const subs: LaneSubscription[] = [];
  afterEach(() => {
    for (const s of subs.splice(0)) s.close();
  });

  describe('one node', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startServer();
    });
    afterAll(() => t.close());

    it('multiplexed stream of every lane, one lane with known types, receipts', async () => {
      const { token } = await signIn(t.url);
      const lanes = createLaneClient({
        url: t.url,
        token,
        EventSource: platform.EventSource,
        reconnectPolicy: fast,
      });
      const { sid } = await lanes.createSession();
      const all = lanes.subscribe(sid);
      const one = lanes.subscribe(sid, { lane: 'catalog', types: ['item'] });
      subs.push(all, one);
      const gotAll: LaneEvent[] = [];
      const gotOne: LaneEvent[] = [];
      all.on('event', (e) => gotAll.push(e));
      one.on('event', (e) => gotOne.push(e));
      await waitFor(() => all.state === 'open' && one.state === 'open', { what: 'streams open' });

      await publish(t.url, sid, 'manifests', [{ type: 'manifest', data: { cid: 'a' } }]);
      const [catalogId] = await publish(t.url, sid, 'catalog', [{ type: 'item', data: { n: 1 } }]);
      await waitFor(() => gotAll.length === 2 && gotOne.length === 1, { what: 'events' });
      expect(gotAll.map((e) => [e.lane, e.type, e.data])).toEqual([
        ['manifests', 'manifest', { cid: 'a' }],
        ['catalog', 'item', { n: 1 }],
      ]);
      expect(gotOne[0]).toEqual({ lane: 'catalog', type: 'item', data: { n: 1 }, id: catalogId });
      expect(all.lastEventId).toMatch(/^m:\d+-\d+,a:\d+-\d+,c:\d+-\d+$/);

      expect(await lanes.sendReceipts(sid, [{ type: 'seen', data: { n: 1 }, id: 'r-1' }])).toEqual({
        accepted: 1,
        duplicates: 0,
      });
      // the same receipt id again (a retry) counts once
      expect(await lanes.sendReceipts(sid, [{ type: 'seen', data: { n: 1 }, id: 'r-1' }])).toMatchObject({
        duplicates: 1,
      });
    });
  });

  describe('across a server restart (shared Redis)', () => {
    let server: ServerProcess | undefined;
    let restarted: TestServer | undefined;
    let publisher: TestServer;
    beforeAll(async () => {
      publisher = await startServer({ redisUrl: REDIS_URL });
    });
    afterAll(async () => {
      await server?.stop();
      await restarted?.close();
      await publisher.close();
    });

    it('resumes from the last id after a crash: the events published while down arrive once, in order', async () => {
      server = await spawnServer({ REDIS_URL });
      const port = server.port;
      const { token } = await signIn(server.url);
      const lanes = createLaneClient({
        url: server.url,
        token,
        EventSource: platform.EventSource,
        reconnectPolicy: fast,
      });
      const { sid } = await lanes.createSession();
      const sub = lanes.subscribe(sid, { lanes: ['manifests'] });
      subs.push(sub);
      const got: string[] = [];
      const readies: boolean[] = [];
      sub.on('event', (e) => got.push((e.data as { n: string }).n));
      sub.on('ready', (r) => readies.push(r.resumed));
      await waitFor(() => sub.state === 'open', { what: 'stream open' });

      await publish(publisher.url, sid, 'manifests', [{ type: 'm', data: { n: '1' } }]);
      await waitFor(() => got.length === 1, { what: 'the first event' });

      // a crash, not a goodbye: the client only learns from the broken stream
      await server.stop('SIGKILL');
      await waitFor(() => sub.state === 'reconnecting', { what: 'reconnecting' });
      await publish(publisher.url, sid, 'manifests', [
        { type: 'm', data: { n: '2' } },
        { type: 'm', data: { n: '3' } },
      ]);
      // back on the same port; in-process this time, which starts in a fraction of the
      // time of a second process (the crash above is the part that needs a real process)
      restarted = await startServer({ redisUrl: REDIS_URL, port });
      await waitFor(() => got.length >= 3, { what: 'the missed events', timeoutMs: 20_000 });
      await publish(publisher.url, sid, 'manifests', [{ type: 'm', data: { n: '4' } }]);
      await waitFor(() => got.length >= 4, { what: 'a live event after the resume' });
      expect(got).toEqual(['1', '2', '3', '4']);
      expect(readies).toEqual([false, true]);
    }, 60_000);
  });
});
