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

  it('shows a bound label set at 0 before anything is counted', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const t = metrics.tally('t_bound_total', 'bound', ['path']);
    const live = t.labels({ path: 'live' });
    expect(await metrics.registry.metrics()).toMatch(/^t_bound_total\{path="live"\} 0$/m);
    live.inc();
    expect(await metrics.registry.metrics()).toMatch(/^t_bound_total\{path="live"\} 1$/m);
  });
});

describe('metrics.countOf', () => {
  it('reports a count kept elsewhere, adding only what it grew by since the last scrape', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let n = 3;
    metrics.countOf('t_source_total', 'source', () => n);
    expect(await metrics.registry.metrics()).toMatch(/^t_source_total 3$/m);
    expect(await metrics.registry.metrics()).toMatch(/^t_source_total 3$/m);
    n = 10;
    expect(await metrics.registry.metrics()).toMatch(/^t_source_total 10$/m);
    // a source that went back never makes the counter go down
    n = 4;
    expect(await metrics.registry.metrics()).toMatch(/^t_source_total 10$/m);
    n = 12;
    expect(await metrics.registry.metrics()).toMatch(/^t_source_total 12$/m);
  });
});
