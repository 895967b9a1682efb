import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer } from './helpers/process.js';
import {
  getTask,
  openNode,
  PULSE_TIMINGS,
  PulseClient,
  spawnWorker,
  submitTask,
  tokenFor,
} from './helpers/pulse.js';
import {
  REDIS_URL,
  startCluster,
  startServer,
  type TestServer,
  uniqueId,
  waitFor,
} from './helpers/server.js';

// Two server nodes on the real Redis; nodes and servers in their own processes where a test kills them.
let a: TestServer;
let b: TestServer;
beforeAll(async () => {
  [a, b] = await startCluster({ ...PULSE_TIMINGS });
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

const subscribeAll = async (server: TestServer) => {
  const dash = await PulseClient.open(server.wsUrl, await tokenFor(server));
  await dash.request('subscribe', { topics: ['nodes', 'metrics', 'tasks'] }, 'snapshot');
  return dash;
};

describe('pulse across server nodes', () => {
  it('a node on A is seen with its metrics by a dashboard on B and on Redis p3:metrics', async () => {
    const redis = new Redis(REDIS_URL);
    const published: any[] = [];
    redis.on('message', (_ch, msg) => published.push(JSON.parse(msg)));
    await redis.subscribe('p3:metrics');
    try {
      const dash = await subscribeAll(b);
      const nodeId = uniqueId('node');
      const node = await openNode(a.wsUrl, await tokenFor(a), {
        nodeId,
        capabilities: ['gpu'],
        region: 'us',
      });
      const joined = await dash.next('node:joined', (f) => f.data.nodeId === nodeId, 0);
      expect(joined.data).toMatchObject({ nodeId, capabilities: ['gpu'], region: 'us' });
      node.send('metrics', { cpu: 0.7, memory: 2048 });
      const m = await dash.next('metrics', (f) => f.data.nodeId === nodeId, 0);
      expect(m.data.metrics).toEqual({ cpu: 0.7, memory: 2048 });
      await waitFor(() => published.find((p) => p.nodeId === nodeId), { what: 'p3:metrics' });
      expect(published.find((p) => p.nodeId === nodeId)).toMatchObject({
        metrics: { cpu: 0.7 },
        address: m.data.address,
      });

      // a dashboard that subscribes on B later gets the node and its metrics in its snapshot
      const late = await PulseClient.open(b.wsUrl, await tokenFor(b));
      const snap = await late.request('subscribe', { topics: ['nodes'] }, 'snapshot');
      expect(snap.data.nodes.find((n: any) => n.nodeId === nodeId)).toBeTruthy();
      expect(snap.data.metrics.find((x: any) => x.nodeId === nodeId)?.metrics.cpu).toBe(0.7);

      // a server node started later has the node and its latest metrics (written once per sweep)
      await waitFor(() => a.server.engine.hget('pulse:metrics', nodeId), { what: 'metrics in the engine' });
      const c = await startServer({ redisUrl: REDIS_URL, ...PULSE_TIMINGS });
      try {
        const onC = await PulseClient.open(c.wsUrl, await tokenFor(c));
        const snapC = await onC.request('subscribe', { topics: ['metrics'] }, 'snapshot');
        expect(snapC.data.metrics.find((x: any) => x.nodeId === nodeId)?.metrics).toEqual({
          cpu: 0.7,
          memory: 2048,
        });
        await onC.close();
      } finally {
        await c.close();
      }

      // nodeIds are owned cluster-wide: another address on B cannot take it
      const thief = await PulseClient.open(b.wsUrl, await tokenFor(b));
      expect((await thief.request('register', { nodeId, capabilities: [] }, 'error')).data.code).toBe(
        'node_taken',
      );

      await node.close();
      await dash.next('node:left', (f) => f.data.nodeId === nodeId, 0);
      await Promise.all([dash.close(), late.close(), thief.close()]);
    } finally {
      redis.disconnect();
    }
  });

  it('a node process killed on A: B reports node:left and its task is completed by another node, once', async () => {
    const cap = uniqueId('cap');
    const dash = await subscribeAll(b);
    const doomedId = uniqueId('doomed');
    const worker = spawnWorker(a.wsUrl, await tokenFor(a), doomedId, [cap]);
    try {
      await worker.waitFor('registered');
      await dash.next('node:joined', (f) => f.data.nodeId === doomedId, 0);
      const { body } = await submitTask(b.url, { kind: cap, payload: 'work', timeoutMs: 60_000 });
      await worker.waitFor('task:assign');
      await worker.kill();
      const left = await dash.next('node:left', (f) => f.data.nodeId === doomedId, 0);
      expect(left.data.nodeId).toBe(doomedId);

      const rescuer = await openNode(b.wsUrl, await tokenFor(b), {
        nodeId: uniqueId('rescuer'),
        capabilities: [cap],
      });
      const assign = await rescuer.next('task:assign', (f) => f.data.taskId === body.taskId, 0);
      expect(assign.data).toMatchObject({ payload: 'work', attempt: 2 });
      rescuer.send('task:result', { taskId: body.taskId, ok: true, result: 'saved' });
      await dash.next('task:update', (f) => f.data.taskId === body.taskId && f.data.status === 'done', 0);
      const task = (await getTask(a.url, body.taskId)).body;
      expect(task).toMatchObject({ status: 'done', result: 'saved', attempts: 2 });
      // reported once: one done update, and nothing after it
      await rescuer.request('ping', undefined, 'pong');
      const updates = dash.all(
        'task:update',
        (f) => f.data.taskId === body.taskId && f.data.status === 'done',
      );
      expect(updates).toHaveLength(1);
      await rescuer.close();
    } finally {
      await worker.kill();
      await dash.close();
    }
  });

  it('a server process killed: its node leaves on the other servers within the heartbeat timeout and its task moves', async () => {
    const env = {
      REDIS_URL,
      WS_HEARTBEAT_INTERVAL: String(PULSE_TIMINGS.heartbeatIntervalMs),
      WS_HEARTBEAT_TIMEOUT: String(PULSE_TIMINGS.heartbeatTimeoutMs),
    };
    const doomed = await spawnServer(env);
    const cap = uniqueId('cap');
    const nodeId = uniqueId('stranded');
    const dash = await subscribeAll(b);
    try {
      // the node's socket stays open from its side: only its server dies
      const node = await openNode(doomed.wsUrl, await tokenFor(a), { nodeId, capabilities: [cap] });
      await dash.next('node:joined', (f) => f.data.nodeId === nodeId, 0);
      const { body } = await submitTask(a.url, { kind: cap, timeoutMs: 60_000 });
      await node.next('task:assign', (f) => f.data.taskId === body.taskId, 0);
      const killedAt = Date.now();
      await doomed.stop('SIGKILL');
      await dash.next('node:left', (f) => f.data.nodeId === nodeId, 0);
      const detectedMs = Date.now() - killedAt;
      // lease = heartbeat timeout (1000 ms), sweeps every 200 ms; generous for shared CPUs
      expect(detectedMs).toBeLessThan(5000);
      const other = await openNode(a.wsUrl, await tokenFor(a), {
        nodeId: uniqueId('other'),
        capabilities: [cap],
      });
      await other.next('task:assign', (f) => f.data.taskId === body.taskId, 0);
      other.send('task:result', { taskId: body.taskId, ok: true, result: 'moved' });
      await waitFor(async () => (await getTask(b.url, body.taskId)).body.status === 'done', { what: 'done' });
      await other.close();
      console.log(`pulse: node:left seen on B ${detectedMs} ms after SIGKILL of its server`);
    } finally {
      await doomed.stop('SIGKILL');
      await dash.close();
    }
  });

  it('a deadline is enforced by any server node and the late result from the first node is ignored', async () => {
    const cap = uniqueId('cap');
    const slow = await openNode(a.wsUrl, await tokenFor(a), {
      nodeId: uniqueId('slow'),
      capabilities: [cap],
    });
    const { body } = await submitTask(b.url, { kind: cap, timeoutMs: 300, maxAttempts: 3 });
    await slow.next('task:assign', (f) => f.data.taskId === body.taskId, 0);
    const fast = await openNode(b.wsUrl, await tokenFor(b), {
      nodeId: uniqueId('fast'),
      capabilities: [cap],
    });
    await fast.next('task:assign', (f) => f.data.taskId === body.taskId, 0);
    const late = await slow.request(
      'task:result',
      { taskId: body.taskId, ok: true, result: 'late' },
      'error',
    );
    expect(late.data.code).toBe('unknown_task');
    fast.send('task:result', { taskId: body.taskId, ok: true, result: 'fast' });
    await waitFor(async () => (await getTask(a.url, body.taskId)).body.status === 'done', { what: 'done' });
    expect((await getTask(a.url, body.taskId)).body).toMatchObject({ result: 'fast', attempts: 2 });
    await Promise.all([slow.close(), fast.close()]);
  });
});
