import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareStreamIds, type Engine } from './types.js';

export interface ContractClock {
  now: () => number;
  advance(ms: number): void;
}

export function fakeClock(start = 1_700_000_000_000): ContractClock {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}

/**
 * The engine contract: every engine passes the same suite.
 * `make` builds two engines sharing one store (two "nodes") and a clock.
 */
export function engineContract(
  name: string,
  make: (clock: ContractClock) => Promise<{ a: Engine; b: Engine; cleanup?: () => Promise<void> }>,
): void {
  describe(`engine contract: ${name}`, () => {
    let a: Engine;
    let b: Engine;
    let clock: ContractClock;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      clock = fakeClock();
      ({ a, b, cleanup } = await make(clock));
    });
    afterEach(async () => {
      await a.close();
      if (b !== a) await b.close();
      await cleanup?.();
    });

    it('answers ping and has a unique instance id per node', async () => {
      expect(await a.ping()).toBe(true);
      expect(a.instanceId).not.toBe(b.instanceId);
    });

    it('publishes to subscribers on every node, in order, and stops after unsubscribe', async () => {
      const gotA: string[] = [];
      const gotB: string[] = [];
      const offA = await a.subscribe('ch:test', (m) => gotA.push(m));
      const offB = await b.subscribe('ch:test', (m) => gotB.push(m));
      for (let i = 0; i < 20; i++) await a.publish('ch:test', `m${i}`);
      await waitFor(() => gotA.length === 20 && gotB.length === 20);
      expect(gotB).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      expect(gotA).toEqual(gotB);
      await offB();
      await a.publish('ch:test', 'after');
      await waitFor(() => gotA.length === 21);
      expect(gotB).toHaveLength(20);
      await offA();
    });

    it('keeps a failing subscriber from affecting the others', async () => {
      const got: string[] = [];
      const off1 = await a.subscribe('ch:err', () => {
        throw new Error('boom');
      });
      const off2 = await a.subscribe('ch:err', (m) => got.push(m));
      await b.publish('ch:err', 'x');
      await waitFor(() => got.length === 1);
      await off1();
      await off2();
    });

    it('sets, gets, deletes keys, and expires them', async () => {
      await a.set('k1', 'v1');
      expect(await b.get('k1')).toBe('v1');
      expect(await b.del('k1')).toBe(true);
      expect(await a.get('k1')).toBeNull();
      expect(await a.del('k1')).toBe(false);
    });

    it('setIfAbsent succeeds exactly once across nodes', async () => {
      const results = await Promise.all([
        a.setIfAbsent('once', 'a', 60_000),
        b.setIfAbsent('once', 'b', 60_000),
        a.setIfAbsent('once', 'c', 60_000),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('take returns a value to exactly one caller', async () => {
      await a.set('nonce:x', 'issued', 60_000);
      const results = await Promise.all([a.take('nonce:x'), b.take('nonce:x'), b.take('nonce:x')]);
      expect(results.filter((r) => r === 'issued')).toHaveLength(1);
      expect(await a.get('nonce:x')).toBeNull();
    });

    it('incr counts across nodes and expire extends a key', async () => {
      expect(await a.incr('ctr', 60_000)).toBe(1);
      expect(await b.incr('ctr', 60_000)).toBe(2);
      expect(await a.expire('ctr', 60_000)).toBe(true);
      expect(await a.expire('missing', 60_000)).toBe(false);
    });

    it('stores hashes', async () => {
      await a.hset('h', { x: '1', y: '2' });
      expect(await b.hget('h', 'x')).toBe('1');
      expect(await b.hgetall('h')).toEqual({ x: '1', y: '2' });
      expect(await b.hdel('h', 'x')).toBe(true);
      expect(await b.hdel('h', 'x')).toBe(false);
      expect(await a.hgetall('h')).toEqual({ y: '2' });
      expect(await a.hgetall('none')).toEqual({});
    });

    it('keeps FIFO lists shared across nodes', async () => {
      await a.listPush('q', '1');
      await b.listPush('q', '2');
      await a.listPush('q', '0', true);
      expect(await b.listLength('q')).toBe(3);
      expect(await b.listRemove('q', '2')).toBe(1);
      expect(await a.listPop('q')).toBe('0');
      expect(await b.listPop('q')).toBe('1');
      expect(await b.listPop('q')).toBeNull();
    });

    it('listPopLease moves the head into a lease set atomically, once per item', async () => {
      await a.listPush('work', 't1');
      await a.listPush('work', 't2');
      const [x, y, z] = await Promise.all([
        a.listPopLease('work', 'claims', 1_000, ':d'),
        b.listPopLease('work', 'claims', 1_000, ':d'),
        b.listPopLease('work', 'claims', 1_000, ':d'),
      ]);
      expect([x, y, z].filter(Boolean).sort()).toEqual(['t1', 't2']);
      expect((await a.leaseMembers('claims')).sort()).toEqual(['t1:d', 't2:d']);
      clock.advance(2_000);
      expect((await b.leaseExpire('claims')).sort()).toEqual(['t1:d', 't2:d']);
    });

    it('leases expire and each expired member is returned to one sweeper only', async () => {
      await a.leaseAdd('room', 'p1', 1_000);
      await b.leaseAdd('room', 'p2', 5_000);
      expect((await b.leaseMembers('room')).sort()).toEqual(['p1', 'p2']);
      clock.advance(2_000);
      expect(await a.leaseMembers('room')).toEqual(['p2']);
      const [ea, eb] = await Promise.all([a.leaseExpire('room'), b.leaseExpire('room')]);
      expect([...ea, ...eb]).toEqual(['p1']);
      await b.leaseAdd('room', 'p2', 5_000); // renewal
      clock.advance(4_000);
      expect(await a.leaseMembers('room')).toEqual(['p2']);
      expect(await a.leaseRemove('room', 'p2')).toBe(true);
      expect(await b.leaseRemove('room', 'p2')).toBe(false);
      expect(await a.leaseMembers('room')).toEqual([]);
    });

    it('appends to streams with increasing ids and reads ranges after an id', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(await (i % 2 ? a : b).streamAppend('s', `e${i}`));
      for (let i = 1; i < ids.length; i++) expect(compareStreamIds(ids[i]!, ids[i - 1]!)).toBe(1);
      const all = await a.streamRange('s', '0-0', 100);
      expect(all.map((e) => e.data)).toEqual(Array.from({ length: 10 }, (_, i) => `e${i}`));
      const after = await b.streamRange('s', ids[6]!, 2);
      expect(after.map((e) => e.data)).toEqual(['e7', 'e8']);
      expect((await a.streamTail('s', 3)).map((e) => e.data)).toEqual(['e7', 'e8', 'e9']);
      const info = await b.streamInfo('s');
      expect(info).toMatchObject({ length: 10, firstId: ids[0], lastId: ids[9], maxDeletedId: '0-0' });
    });

    it('streamAppendOnce stores once per key across nodes and returns the first id', async () => {
      const results = await Promise.all([
        a.streamAppendOnce('once-s', 'v1', 'once:k', 60_000),
        b.streamAppendOnce('once-s', 'v2', 'once:k', 60_000),
        a.streamAppendOnce('once-s', 'v3', 'once:k', 60_000),
      ]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect((await b.streamRange('once-s', '0-0', 10)).length).toBe(1);
      const other = await b.streamAppendOnce('once-s', 'v4', 'once:other', 60_000);
      expect(other.created).toBe(true);
    });

    it('trims streams to maxLen and reports what was trimmed', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push(await a.streamAppend('t', `e${i}`, { maxLen: 5 }));
      const info = await b.streamInfo('t');
      expect(info.length).toBe(5);
      expect(info.firstId).toBe(ids[3]);
      expect(info.maxDeletedId).toBe(ids[2]);
      // one id that exists, one that never did
      expect(await a.streamDelete('t', [ids[3]!, '1-1'])).toBe(1);
      expect((await b.streamInfo('t')).maxDeletedId).toBe(ids[3]);
    });

    it('takes entries atomically: each one once, with its data, unknown and malformed ids skipped', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(await a.streamAppend('take', `v${i}`));
      const [first, second] = await Promise.all([
        a.streamTake('take', [ids[2]!, ids[0]!, '1-1', 'not-an-id']),
        b.streamTake('take', [ids[0]!, ids[2]!]),
      ]);
      // one caller got each entry, in the order it asked for them
      const all = [...first, ...second].sort((x, y) => compareStreamIds(x.id, y.id));
      expect(all).toEqual([
        { id: ids[0], data: 'v0' },
        { id: ids[2], data: 'v2' },
      ]);
      expect(first.map((e) => e.id)).toEqual([ids[2], ids[0]].filter((id) => first.some((e) => e.id === id)));
      expect(await a.streamTake('take', [ids[0]!, ids[2]!])).toEqual([]);
      expect((await b.streamRange('take', '0-0', 10)).map((e) => e.data)).toEqual(['v1', 'v3']);
      expect((await b.streamInfo('take')).maxDeletedId).toBe(ids[2]);
      expect(await a.streamTake('never-written', [ids[1]!])).toEqual([]);
    });

    it('publishes appended entries on the notify channel in the same step, each once', async () => {
      const channel = `ch:notify:${a.instanceId}`;
      const got: [string, string][] = [];
      const off = await b.subscribe(channel, (m) => got.push(...(JSON.parse(m) as [string, string][])));
      const notify = { notify: channel };
      // made in one turn: engines may run them as one batch; each still answers on its own
      const [x, y, z, again, quiet] = await Promise.all([
        a.streamAppend('n1', 'x', notify),
        a.streamAppend('n2', 'y "quoted" \\ / é', notify),
        a.streamAppendOnce('n1', 'z', 'once:n', 60_000, notify),
        a.streamAppendOnce('n1', 'z2', 'once:n', 60_000, notify),
        a.streamAppend('n3', 'no channel'),
      ]);
      expect(again).toEqual({ id: z.id, created: false });
      await waitFor(() => got.length >= 3);
      expect(got.sort((p, q) => p[1].localeCompare(q[1]))).toEqual([
        [x, 'x'],
        [y, 'y "quoted" \\ / é'],
        [z.id, 'z'],
      ]);
      expect((await b.streamRange('n1', '0-0', 10)).map((e) => e.data)).toEqual(['x', 'z']);
      expect(quiet).toMatch(/^\d+-\d+$/);
      // nothing more arrives (the duplicate and the append without a channel publish nothing)
      await a.streamAppend('n2', 'last', notify);
      await waitFor(() => got.length === 4);
      expect(got[3]![1]).toBe('last');
      await off();
    });

    it('publishes what a take removed, grouped by the field its data starts with, in the same step', async () => {
      const channel = `ch:taken:${a.instanceId}`;
      const got: [string, string[], unknown][] = [];
      const off = await b.subscribe(channel, (m) => got.push(...(JSON.parse(m) as typeof got)));
      const put = (from: unknown, text = 'hi') => a.streamAppend('tn', JSON.stringify({ from, text }));
      // a body JSON.stringify wrote with a lone surrogate escape (half an emoji) is listed too
      const [p1, q1, p2] = [await put('p'), await put('q', 'half \ud83d'), await put('p')];
      // not listed: a value with an escape, a value that is no string, a body that is no JSON object
      const [escaped, odd] = [await put('q "é"'), await put(7)];
      const plain = await a.streamAppend('tn', 'not json');
      // written by hand, not by JSON.stringify: a raw control character would break the notice
      const raw = await a.streamAppend('tn', '{"from":"a\u0001b","text":1}');
      const tag = (by: string) => JSON.stringify({ by, at: 5 });
      // two takes of one turn (one batch where the engine batches), and one with no notice
      const [one, two, three] = await Promise.all([
        a.streamTake('tn', [p1, q1, escaped, odd, plain, raw], { channel, field: 'from', tag: tag('x') }),
        a.streamTake('tn', [p2, p1], { channel, field: 'from', tag: tag('y') }),
        a.streamTake('tn', ['1-1']),
      ]);
      // with a notice, the bodies stay in the engine
      expect(one).toEqual([p1, q1, escaped, odd, plain, raw].map((id) => ({ id, data: '' })));
      expect([two.length, three.length]).toEqual([1, 0]);
      await waitFor(() => got.length >= 3);
      expect(got).toEqual([
        ['p', [p1], { by: 'x', at: 5 }],
        ['q', [q1], { by: 'x', at: 5 }],
        ['p', [p2], { by: 'y', at: 5 }],
      ]);
      // a take that removes nothing (or nothing listed) publishes nothing
      await a.streamTake('tn', [p1, p2], { channel, field: 'from', tag: tag('z') });
      const last = await put('r');
      await a.streamTake('tn', [last], { channel, field: 'from', tag: tag('z') });
      await waitFor(() => got.length >= 4);
      expect(got).toHaveLength(4);
      expect(got[3]).toEqual(['r', [last], { by: 'z', at: 5 }]);
      // a notice no one could hear, or no entry could match, is the caller's bug
      await expect(a.streamTake('tn', [last], { channel: '', field: 'from', tag: '{}' })).rejects.toThrow(
        TypeError,
      );
      await expect(a.streamTake('tn', [last], { channel, field: 'a"b', tag: '{}' })).rejects.toThrow(
        TypeError,
      );
      await off();
    });

    it('answers many takes of one turn, each from its own stream', async () => {
      const ids = await Promise.all([a.streamAppend('tk1', 'a'), a.streamAppend('tk2', 'b')]);
      const [one, two, none, empty] = await Promise.all([
        a.streamTake('tk1', [ids[0]!, ids[1]!]),
        a.streamTake('tk2', [ids[1]!]),
        a.streamTake('tk3', [ids[0]!]),
        a.streamTake('tk1', []),
      ]);
      expect(one).toEqual([{ id: ids[0], data: 'a' }]);
      expect(two).toEqual([{ id: ids[1], data: 'b' }]);
      expect(none).toEqual([]);
      expect(empty).toEqual([]);
    });

    it('reports an empty stream that was never written', async () => {
      expect(await a.streamInfo('never')).toEqual({
        length: 0,
        firstId: null,
        lastId: null,
        maxDeletedId: '0-0',
      });
      expect(await a.streamRange('never', '0-0', 10)).toEqual([]);
    });
  });
}

export async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
