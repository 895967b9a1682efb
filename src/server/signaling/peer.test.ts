import { describe, expect, it } from 'vitest';
import type { WsConnection } from '../ws/endpoint.js';
import { createPeer, runInOrder } from './peer.js';

const peer = () => createPeer({ id: 'p' } as WsConnection, '0x1');

describe('runInOrder', () => {
  it('runs synchronous frames at once and keeps order behind an async one', async () => {
    const p = peer();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    runInOrder(
      p,
      () => void log.push('sync-1'),
      10,
      () => {},
    );
    expect(log).toEqual(['sync-1']);
    runInOrder(
      p,
      async () => {
        await gate;
        log.push('join');
      },
      10,
      () => {},
    );
    runInOrder(
      p,
      () => void log.push('offer'),
      10,
      () => {},
    );
    expect(log).toEqual(['sync-1']);
    release();
    await p.tail;
    expect(log).toEqual(['sync-1', 'join', 'offer']);
    expect(p.tail).toBeUndefined();
    expect(p.queued).toBe(0);
  });

  it('refuses frames past the bound, reports failures, and drops frames of a closed peer', async () => {
    const p = peer();
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    expect(runInOrder(p, () => gate, 2, onError)).toBe(true);
    expect(
      runInOrder(
        p,
        () => {
          throw new Error('boom');
        },
        2,
        onError,
      ),
    ).toBe(true);
    expect(runInOrder(p, () => {}, 2, onError)).toBe(false);
    release();
    await p.tail;
    expect(errors).toHaveLength(1);
    p.closed = true;
    let ran = false;
    runInOrder(
      p,
      () => {
        ran = true;
      },
      2,
      onError,
    );
    expect(ran).toBe(false);
  });
});
