import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBackoffPolicy } from '../src/client/backoff.js';
import { createPulseDashboard, type PulseDashboard } from '../src/client/pulse/dashboard.js';
import { createPulseNode, type PulseNode } from '../src/client/pulse/node.js';
import { createTaskClient } from '../src/client/pulse/tasks.js';
import { platform, recordingWebSocket } from './helpers/client.js';
import { startServer, TEST_SERVICE_KEY, type TestServer, uniqueId, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

const fast = createBackoffPolicy({ stepsMs: [50, 100], jitter: 'none' });

describe('pulse clients against the real server', () => {
  let t: TestServer;
  const open: (PulseNode | PulseDashboard)[] = [];
  beforeAll(async () => {
    t = await startServer();
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  afterAll(() => t.close());

  it('a worker registers, reports metrics, completes tasks and reports failures; the dashboard sees it all', async () => {
    const capability = uniqueId('cap');
    const nodeId = uniqueId('node');
    const { token } = await signIn(t.url);
    const dash = createPulseDashboard({
      url: t.url,
      token,
      WebSocket: platform.WebSocket,
      reconnectPolicy: fast,
    });
    open.push(dash);
    await waitFor(() => dash.state === 'open', { what: 'dashboard open' });
    const joined = new Promise((r) => dash.once('node:joined', r));

    const worker = createPulseNode({
      url: t.url,
      token: (await signIn(t.url)).token,
      WebSocket: platform.WebSocket,
      reconnectPolicy: fast,
      nodeId,
      capabilities: [capability],
      region: 'eu',
      metrics: () => ({ cpu: 0.25, queue: 0 }),
      metricsIntervalMs: 50,
      handleTask: async (task) => {
        const { a, b } = task.payload as { a: number; b: number };
        if (b === 0) throw new Error('division by zero');
        return { quotient: a / b };
      },
    });
    open.push(worker);
    expect(await joined).toMatchObject({ nodeId, capabilities: [capability], region: 'eu' });
    await waitFor(() => dash.nodes.get(nodeId)?.metrics?.cpu === 0.25, { what: 'metrics on the dashboard' });

    const tasks = createTaskClient({ url: t.url, serviceKey: TEST_SERVICE_KEY });
    const ids = await Promise.all(
      [
        { a: 6, b: 3 },
        { a: 1, b: 4 },
        { a: 1, b: 0 },
      ].map((payload) => tasks.submit({ kind: 'divide', capability, payload })),
    );
    const views = await Promise.all(
      ids.map(({ taskId }) => tasks.wait(taskId, { timeoutMs: 20_000, intervalMs: 50 })),
    );
    expect(views.map((v) => [v.status, v.result ?? v.error])).toEqual([
      ['done', { quotient: 2 }],
      ['done', { quotient: 0.25 }],
      ['failed', 'division by zero'],
    ]);
    expect(views.every((v) => v.node === nodeId)).toBe(true);

    const left = new Promise((r) => dash.once('node:left', r));
    worker.close();
    expect(await left).toMatchObject({ nodeId });
    expect(dash.nodes.has(nodeId)).toBe(false);
  });

  it('after a dropped connection the worker registers again and keeps taking tasks', async () => {
    const capability = uniqueId('cap');
    const rec = recordingWebSocket();
    const registered: string[] = [];
    const worker = createPulseNode({
      url: t.url,
      token: (await signIn(t.url)).token,
      WebSocket: rec.WebSocket,
      reconnectPolicy: fast,
      nodeId: uniqueId('node'),
      capabilities: [capability],
      handleTask: (task) => `echo:${task.payload}`,
    });
    open.push(worker);
    worker.on('registered', (r) => registered.push(r.nodeId));
    await waitFor(() => registered.length === 1, { what: 'registered' });
    rec.sockets.at(-1)!.terminate();
    await waitFor(() => registered.length === 2, { what: 'registered again' });
    const tasks = createTaskClient({ url: t.url, serviceKey: TEST_SERVICE_KEY });
    const { taskId } = await tasks.submit({ kind: 'echo', capability, payload: 'x' });
    expect(await tasks.wait(taskId, { timeoutMs: 20_000, intervalMs: 50 })).toMatchObject({
      status: 'done',
      result: 'echo:x',
    });
  });

  it('a nodeId of another address: node_taken, and the worker stops', async () => {
    const nodeId = uniqueId('node');
    const first = createPulseNode({
      url: t.url,
      token: (await signIn(t.url)).token,
      WebSocket: platform.WebSocket,
      nodeId,
      capabilities: [],
    });
    open.push(first);
    await new Promise((r) => first.once('registered', r));
    const second = createPulseNode({
      url: t.url,
      token: (await signIn(t.url)).token,
      WebSocket: platform.WebSocket,
      nodeId,
      capabilities: [],
    });
    open.push(second);
    const errors: string[] = [];
    second.on('error', (e) => errors.push(e.code));
    await waitFor(() => second.state === 'closed', { what: 'second worker closed' });
    expect(errors).toContain('node_taken');
    expect(first.state).toBe('open');
  });
});
