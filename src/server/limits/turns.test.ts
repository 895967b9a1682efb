import { describe, expect, it } from 'vitest';
import { Turns } from './turns.js';

describe('Turns', () => {
  it('runs at most max at once, in order, and hands each turn on (also after a failure)', async () => {
    const turns = new Turns(2);
    const started: number[] = [];
    const finish: (() => void)[] = [];
    const tasks = Array.from({ length: 5 }, (_, i) =>
      turns.run(
        () =>
          new Promise<number>((resolve, reject) => {
            started.push(i);
            finish[i] = () => (i === 1 ? reject(new Error('failed')) : resolve(i));
          }),
      ),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([turns.running, turns.waiting]).toEqual([2, 3]);
    finish[1]!();
    await expect(tasks[1]).rejects.toThrow('failed');
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    expect([turns.running, turns.waiting]).toEqual([2, 2]);
    // a task started now waits behind the queue, not in a turn handed on
    const late = turns.run(async () => {
      started.push(99);
      return 99;
    });
    for (const i of [0, 2, 3, 4]) {
      finish[i]!();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all([tasks[0], tasks[2], tasks[3], tasks[4], late])).toEqual([0, 2, 3, 4, 99]);
    expect(started).toEqual([0, 1, 2, 3, 4, 99]);
    expect([turns.running, turns.waiting]).toEqual([0, 0]);
  });
});
