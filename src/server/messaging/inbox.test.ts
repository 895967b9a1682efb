import { describe, expect, it } from 'vitest';
import { createMemoryEngine } from '../engine/memory.js';
import { compareStreamIds } from '../engine/types.js';
import { createInbox, previousId } from './inbox.js';

const A = '0x000000000000000000000000000000000000000A' as const;
const B = '0x000000000000000000000000000000000000000B' as const;

describe('inbox', () => {
  it('previousId is the greatest id below', () => {
    expect(previousId('5-3')).toBe('5-2');
    expect(compareStreamIds(previousId('5-0'), '5-0')).toBe(-1);
    expect(compareStreamIds(previousId('5-0'), '4-99')).toBe(1);
  });

  it('stores in order, pages, removes each id once, bounded by maxLen', async () => {
    const engine = createMemoryEngine();
    const inbox = createInbox({ engine, maxLen: 5, ttlMs: 60_000, notify: 'test:inbox' });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await inbox.append({ from: A, to: B, content: `${i}`, encrypted: false, timestamp: i })).id);
    }
    const all = await inbox.page(B, '0', 100);
    expect(all.map((m) => m.content)).toEqual(['2', '3', '4', '5', '6']);
    expect((await inbox.page(B, all[1]!.id, 2)).map((m) => m.content)).toEqual(['4', '5']);
    const receipts: unknown[] = [];
    const off = await engine.subscribe('test:receipts', (m) =>
      receipts.push(...(JSON.parse(m) as unknown[])),
    );
    const to = { channel: 'test:receipts', tag: '{"by":"B"}' };
    const [first, second] = await Promise.all([
      inbox.remove(B, [ids[3]!, ids[0]!], to),
      inbox.remove(B, [ids[3]!], to),
    ]);
    expect(first + second).toBe(1);
    // the removal itself tells the sender (ids[0] was trimmed: nothing to tell of it)
    await new Promise((r) => setTimeout(r, 10));
    expect(receipts).toEqual([[A, [ids[3]], { by: 'B' }]]);
    await off();
    expect((await inbox.page(B, '0', 100)).map((m) => m.content)).toEqual(['2', '4', '5', '6']);
    await engine.close();
  });

  it('stores a clientMsgId once per sender, also under concurrent retries', async () => {
    const engine = createMemoryEngine();
    const inbox = createInbox({ engine, maxLen: 5, ttlMs: 60_000, notify: 'test:inbox' });
    const draft = { from: A, to: B, content: 'x', encrypted: false, timestamp: 1 };
    const tries = await Promise.all([1, 2, 3].map(() => inbox.appendOnce(draft, 'c1')));
    expect(tries.filter((t) => t.created)).toHaveLength(1);
    expect(new Set(tries.map((t) => t.msg.id)).size).toBe(1);
    // another sender's c1 is another message
    expect((await inbox.appendOnce({ ...draft, from: B, to: A }, 'c1')).created).toBe(true);
    expect(await inbox.page(B, '0', 10)).toHaveLength(1);
    await engine.close();
  });

  it('announces what it stores; a subscriber skips recipients it does not want, by the to field', async () => {
    const engine = createMemoryEngine();
    const inbox = createInbox({ engine, maxLen: 50, ttlMs: 60_000, notify: 'test:notice' });
    const got: string[] = [];
    const asked: string[] = [];
    const off = await inbox.subscribe(
      (messages) => got.push(...messages.map((m) => `${m.to}:${m.content}`)),
      (to) => {
        asked.push(to);
        return to === B;
      },
    );
    // content that imitates the field cannot redirect it
    await inbox.append({ from: B, to: A, content: '"to":"' + B, encrypted: false, timestamp: 1 });
    await inbox.append({ from: A, to: B, content: 'for B', encrypted: true, timestamp: 2 });
    await new Promise((r) => setTimeout(r, 10));
    expect(asked).toEqual([A, B]);
    expect(got).toEqual([`${B}:for B`]);
    await off();
  });
});
