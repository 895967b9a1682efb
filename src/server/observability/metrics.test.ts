import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

describe('metrics.tally', () => {
  it('folds plain adds into the Prometheus counter at scrape time, one series per label set', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const plain = metrics.tally('t_plain_total', 'plain');
    const labelled = metrics.tally('t_labelled_total', 'labelled', ['path']);
    plain.inc();
    plain.inc(2);
    labelled.labels({ path: 'a' }).inc();
    // binding the same labels again gives the same count, not a second series
    labelled.labels({ path: 'a' }).inc(4);
    labelled.labels({ path: 'b' }).inc();
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/^t_plain_total 3$/m);
    expect(text).toMatch(/^t_labelled_total\{path="a"\} 5$/m);
    expect(text).toMatch(/^t_labelled_total\{path="b"\} 1$/m);
    // a later scrape adds what came since, and counts nothing twice
    plain.inc();
    text = await metrics.registry.metrics();
    expect(text).toMatch(/^t_plain_total 4$/m);
    expect(text).toMatch(/^t_labelled_total\{path="a"\} 5$/m);
  });
});
