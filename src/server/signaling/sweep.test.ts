import { describe, expect, it } from 'vitest';
import type { Engine } from '../engine/types.js';
import { SLICE } from '../limits/slices.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { createSignalingMetrics } from './metrics.js';
import type { Rooms } from './rooms.js';
import { createMembershipSweep } from './sweep.js';

describe('membership sweep', () => {
  it('survives an engine that rejects while the sweep yields between slices (no unhandled rejection)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    // a Redis that answers every write with an error, on a later turn of the event loop
    const failLater = () =>
      new Promise<never>((_, reject) => setImmediate(() => reject(new Error('READONLY replica'))));
    const engine = {
      instanceId: 'n1',
      leaseAdd: failLater,
      leaseExpire: failLater,
    } as unknown as Engine;
    const rooms = new Map(
      Array.from({ length: 3 * SLICE }, (_, i) => [
        `r${i}`,
        { id: `r${i}`, key: `room:r${i}`, closed: false, local: new Map() },
      ]),
    );
    const metrics = createMetrics({ defaultMetrics: false });
    const signalingMetrics = createSignalingMetrics(metrics);
    const sweep = createMembershipSweep({
      engine,
      rooms: { rooms } as unknown as Rooms,
      logger: createLogger({ level: 'silent' }),
      metrics: signalingMetrics,
      leaseTtlMs: 1_000,
      spreadMs: 0,
    });
    try {
      await sweep.sweep();
      // a few more turns for any late rejection to surface
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      const text = await metrics.registry.getSingleMetricAsString('p3_signaling_sweep_errors_total');
      expect(text).toMatch(/p3_signaling_sweep_errors_total 1/);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
