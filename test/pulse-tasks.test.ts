import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTask, openNode, PULSE_TIMINGS, PulseClient, submitTask, tokenFor } from './helpers/pulse.js';
import { startServer, type TestServer, uniqueId, waitFor } from './helpers/server.js';

// Task distribution on one in-memory server (the two-node and crash cases are in pulse-cluster).
let t: TestServer;
beforeAll(async () => {
  t = await startServer({ ...PULSE_TIMINGS, pulseQueueMax: 3 });
});
afterAll(() => t.close());

const node = async (capabilities: string[], extra: { maxTasks?: number } = {}) => {
  const nodeId = uniqueId('node');
  const c = await openNode(t.wsUrl, await tokenFor(t), { nodeId, capabilities, ...extra });
  return Object.assign(c, { nodeId });
};
const assignOf = (c: PulseClient, taskId: string) =>
  c.next('task:assign', (f) => f.data.taskId === taskId, 0);

describe('pulse tasks: REST', () => {
  it('needs the service key, validates bodies and answers 404 for unknown tasks', async () => {
    expect((await submitTask(t.url, { kind: 'x' }, 'wrong-key-0123456789')).status).toBe(401);
    const noKey = await fetch(`${t.url}/v1/pulse/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"kind":"x"}',
    });
    expect(noKey.status).toBe(401);
    for (const body of [
      {},
      { kind: '' },
      { kind: 'a b' },
      { kind: 'x', timeoutMs: 5 },
      { kind: 'x', maxAttempts: 0 },
    ]) {
      const r = await submitTask(t.url, body);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('bad_request');
    }
    const raw = await fetch(`${t.url}/v1/pulse/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer service-key-0123456789' },
      body: '{oops',
    });
    expect(raw.status).toBe(400);
    const missing = await getTask(t.url, 'no-such-task');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    expect((await getTask(t.url, 'x', 'wrong-key-0123456789')).status).toBe(401);

    const disabled = await startServer({ ...PULSE_TIMINGS, serviceKey: undefined });
    try {
      const r = await submitTask(disabled.url, { kind: 'x' });
      expect(r).toEqual({
        status: 403,
        body: { error: { code: 'service_disabled', message: expect.any(String) } },
      });
    } finally {
      await disabled.close();
    }
  });

  it('refuses a task when its capability queue is full (503 queue_full)', async () => {
    const capability = uniqueId('nobody');
    for (let i = 0; i < 3; i++) expect((await submitTask(t.url, { kind: 'k', capability })).status).toBe(202);
    const full = await submitTask(t.url, { kind: 'k', capability });
    expect(full.status).toBe(503);
    expect(full.body.error.code).toBe('queue_full');
  });
});

describe('pulse tasks: assignment and results', () => {
  it('assigns to a node with the capability; the result completes it once; tasks subscribers follow', async () => {
    const cap = uniqueId('cap');
    const dash = await PulseClient.open(t.wsUrl, await tokenFor(t));
    await dash.request('subscribe', { topics: ['tasks'] }, 'snapshot');
    const other = await node([uniqueId('other')]);
    const worker = await node([cap]);
    const { status, body } = await submitTask(t.url, { kind: cap, payload: { n: 21 } });
    expect(status).toBe(202);
    const a = await assignOf(worker, body.taskId);
    expect(a.data).toMatchObject({ taskId: body.taskId, kind: cap, payload: { n: 21 }, attempt: 1 });
    expect(a.data.deadline).toBeGreaterThan(Date.now());
    expect((await getTask(t.url, body.taskId)).body).toMatchObject({
      status: 'assigned',
      node: worker.nodeId,
      attempts: 1,
    });

    worker.send('task:result', { taskId: body.taskId, ok: true, result: { n: 42 } });
    await waitFor(async () => (await getTask(t.url, body.taskId)).body.status === 'done', { what: 'done' });
    const done = (await getTask(t.url, body.taskId)).body;
    expect(done).toMatchObject({
      taskId: body.taskId,
      status: 'done',
      node: worker.nodeId,
      result: { n: 42 },
      attempts: 1,
    });

    // a second result for the same task is not reported again
    const dup = await worker.request(
      'task:result',
      { taskId: body.taskId, ok: true, result: 'again' },
      'error',
    );
    expect(dup.data.code).toBe('unknown_task');
    expect((await getTask(t.url, body.taskId)).body.result).toEqual({ n: 42 });

    await dash.next('task:update', (f) => f.data.taskId === body.taskId && f.data.status === 'done', 0);
    const statuses = dash.all('task:update', (f) => f.data.taskId === body.taskId).map((f) => f.data.status);
    expect(statuses).toEqual(['queued', 'assigned', 'done']);
    expect(other.all('task:assign')).toHaveLength(0);
    await Promise.all([dash.close(), other.close(), worker.close()]);
  });

  it('keeps a task queued until a node with the capability registers; ok:false fails it', async () => {
    const cap = uniqueId('later');
    const { body } = await submitTask(t.url, { kind: 'job', capability: cap });
    expect((await getTask(t.url, body.taskId)).body).toMatchObject({ status: 'queued', attempts: 0 });
    const worker = await node([cap]);
    await assignOf(worker, body.taskId);
    worker.send('task:result', { taskId: body.taskId, ok: false, error: 'disk full' });
    await waitFor(async () => (await getTask(t.url, body.taskId)).body.status === 'failed', {
      what: 'failed',
    });
    expect((await getTask(t.url, body.taskId)).body).toMatchObject({ error: 'disk full', attempts: 1 });
    await worker.close();
  });

  it('gives each task to the least busy node and respects maxTasks', async () => {
    const cap = uniqueId('spread');
    const a = await node([cap], { maxTasks: 2 });
    const b = await node([cap], { maxTasks: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submitTask(t.url, { kind: cap })).body.taskId);
    await waitFor(() => a.all('task:assign').length + b.all('task:assign').length === 4, {
      what: '4 assigned',
    });
    expect(a.all('task:assign')).toHaveLength(2);
    expect(b.all('task:assign')).toHaveLength(2);
    const last = ids[4]!;
    expect((await getTask(t.url, last)).body.status).toBe('queued');
    // a finished task frees a slot: the waiting one goes there
    const first = a.all('task:assign')[0]!.data.taskId;
    a.send('task:result', { taskId: first, ok: true });
    await assignOf(a, last);
    await Promise.all([a.close(), b.close()]);
  });

  it('reassigns a task whose node misses the deadline; the late result is ignored', async () => {
    const cap = uniqueId('slow');
    const slow = await node([cap]);
    const { body } = await submitTask(t.url, { kind: cap, timeoutMs: 300 });
    await assignOf(slow, body.taskId);
    const fast = await node([cap]);
    const second = await assignOf(fast, body.taskId);
    expect(second.data.attempt).toBe(2);
    const late = await slow.request(
      'task:result',
      { taskId: body.taskId, ok: true, result: 'late' },
      'error',
    );
    expect(late.data.code).toBe('unknown_task');
    fast.send('task:result', { taskId: body.taskId, ok: true, result: 'fast' });
    await waitFor(async () => (await getTask(t.url, body.taskId)).body.status === 'done', { what: 'done' });
    expect((await getTask(t.url, body.taskId)).body).toMatchObject({
      result: 'fast',
      node: fast.nodeId,
      attempts: 2,
    });
    await Promise.all([slow.close(), fast.close()]);
  });

  it('fails a task after maxAttempts missed deadlines', async () => {
    const cap = uniqueId('never');
    const lazy = await node([cap]);
    const { body } = await submitTask(t.url, { kind: cap, timeoutMs: 150, maxAttempts: 2 });
    await waitFor(async () => (await getTask(t.url, body.taskId)).body.status === 'failed', {
      what: 'failed',
      intervalMs: 50,
    });
    const task = (await getTask(t.url, body.taskId)).body;
    expect(task).toMatchObject({ status: 'failed', attempts: 2, maxAttempts: 2 });
    expect(task.error).toContain('deadline');
    expect(lazy.all('task:assign', (f) => f.data.taskId === body.taskId).map((f) => f.data.attempt)).toEqual([
      1, 2,
    ]);
    await lazy.close();
  });

  it('reassigns at once when the node disconnects (long before the deadline)', async () => {
    const cap = uniqueId('drop');
    const leaving = await node([cap]);
    const { body } = await submitTask(t.url, { kind: cap, timeoutMs: 60_000 });
    await assignOf(leaving, body.taskId);
    const stays = await node([cap]);
    await leaving.close();
    const again = await assignOf(stays, body.taskId);
    expect(again.data.attempt).toBe(2);
    stays.send('task:result', { taskId: body.taskId, ok: true, result: 1 });
    await waitFor(async () => (await getTask(t.url, body.taskId)).body.status === 'done', { what: 'done' });
    await stays.close();
  });

  it('recovers a task taken off its queue by a server that died before recording the assignment', async () => {
    const cap = uniqueId('crash');
    const { body } = await submitTask(t.url, { kind: cap });
    const engine = t.server.engine;
    // what a dispatching server does first, then dies: pop the id and claim it
    expect(await engine.listPop(`pulse:queue:${cap}`)).toBe(body.taskId);
    await engine.leaseAdd('pulse:claims', `${body.taskId}|dispatch`, 300);
    const worker = await node([cap]);
    const a = await assignOf(worker, body.taskId);
    expect(a.data.attempt).toBe(1);
    worker.send('task:result', { taskId: body.taskId, ok: true, result: 'recovered' });
    await waitFor(async () => (await getTask(t.url, body.taskId)).body.status === 'done', { what: 'done' });
    await worker.close();
  });

  it('counts what happened in Prometheus metrics and stops task:update after unsubscribe', async () => {
    const cap = uniqueId('metered');
    const dash = await PulseClient.open(t.wsUrl, await tokenFor(t));
    await dash.request('subscribe', { topics: ['tasks'] }, 'snapshot');
    const worker = await node([cap]);
    const first = (await submitTask(t.url, { kind: cap })).body.taskId;
    await assignOf(worker, first);
    worker.send('task:result', { taskId: first, ok: true });
    await dash.next('task:update', (f) => f.data.taskId === first && f.data.status === 'done', 0);
    dash.send('unsubscribe', { topics: ['tasks'] });
    await dash.request('ping', undefined, 'pong');
    const second = (await submitTask(t.url, { kind: cap })).body.taskId;
    await assignOf(worker, second);
    await dash.request('ping', undefined, 'pong');
    expect(dash.all('task:update', (f) => f.data.taskId === second)).toHaveLength(0);

    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/p3_pulse_tasks_total\{event="done"\} [1-9]/);
    expect(text).toMatch(/p3_pulse_nodes [1-9]/);
    expect(text).toMatch(/p3_pulse_task_seconds_count\{status="done"\} [1-9]/);
    expect(text).toMatch(/p3_pulse_frames_in_total [1-9]/);
    await Promise.all([dash.close(), worker.close()]);
  });
});
