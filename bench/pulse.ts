import { randomBytes } from 'node:crypto';
import { createTokenService } from '../src/server/auth/tokens.js';
import { sendAtRate } from './lib/load.js';
import { type BenchServer, startBenchServer } from './lib/server-process.js';
import { percentiles } from './lib/stats.js';
import { MiniWs } from './lib/wsclient.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';
const SERVICE_KEY = 'bench-service-key-0123456789';

export interface PulseFigures {
  server: string;
  updatesPerSec: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  tasksPerSec?: number;
}

const tokens = createTokenService({ secret: SECRET, ttlSec: 3600 });
const address = () => `0x${randomBytes(20).toString('hex')}`;

const waitFor = async (cond: () => boolean, ms: number) => {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await new Promise((r) => setTimeout(r, 2));
};

export async function openP3(s: BenchServer): Promise<MiniWs> {
  const { token } = await tokens.issue(address());
  const ws = await MiniWs.open(s.port, `/pulse/stream?token=${token}`);
  await new Promise<void>((resolve) => {
    ws.onText = (t) => {
      if (t.includes('auth_ok')) resolve();
    };
  });
  return ws;
}

/**
 * Metrics fan-out: `nodes` publishers send `rate` metrics updates per second in all,
 * each carrying its send time as a metric; `subs` dashboards receive them.
 */
async function metricsFanout(
  s: BenchServer,
  p3: boolean,
  nodes: number,
  subs: number,
  rate: number,
  seconds: number,
): Promise<Omit<PulseFigures, 'server' | 'tasksPerSec'>> {
  const pubs: MiniWs[] = [];
  for (let i = 0; i < nodes; i++) {
    if (p3) {
      const ws = await openP3(s);
      ws.send(
        JSON.stringify({ type: 'register', data: { nodeId: `bench-node-${i}`, capabilities: ['bench'] } }),
      );
      pubs.push(ws);
    } else pubs.push(await MiniWs.open(s.port, '/?role=pub'));
  }
  const samples: number[] = [];
  let delivered = 0;
  const onText = (t: string) => {
    const i = t.indexOf('"t":');
    if (i < 0) return;
    delivered++;
    samples.push(performance.now() - Number.parseFloat(t.slice(i + 4)));
  };
  const dashboards: MiniWs[] = [];
  for (let i = 0; i < subs; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, subs - i) }, async () => {
        const ws = p3 ? await openP3(s) : await MiniWs.open(s.port, '/?role=sub');
        if (p3) ws.send('{"type":"subscribe","data":{"topics":["metrics"]}}');
        return ws;
      }),
    );
    dashboards.push(...batch);
  }
  await new Promise((r) => setTimeout(r, 300));
  for (const d of dashboards) d.onText = onText;
  const start = performance.now();
  const sent = await sendAtRate(rate, seconds, (i) => {
    const t = performance.now().toFixed(3);
    pubs[i % pubs.length]!.send(
      p3
        ? `{"type":"metrics","data":{"cpu":0.42,"memory":0.61,"latencyMs":12,"t":${t}}}`
        : `{"type":"metrics","data":{"nodeId":"n","metrics":{"cpu":0.42,"memory":0.61,"latencyMs":12,"t":${t}}}}`,
    );
  });
  await waitFor(() => delivered >= sent * subs, 3_000);
  const elapsed = (performance.now() - start) / 1000;
  for (const ws of [...pubs, ...dashboards]) ws.close();
  const pc = percentiles(samples);
  return { updatesPerSec: sent / elapsed, deliveredPerSec: delivered / elapsed, p50: pc.p50, p99: pc.p99 };
}

/** Task throughput: `workers` nodes answer every task at once; tasks submitted over REST. */
async function taskThroughput(s: BenchServer, workers: number, tasks: number): Promise<number> {
  let done = 0;
  const ws: MiniWs[] = [];
  for (let i = 0; i < workers; i++) {
    const w = await openP3(s);
    w.onText = (t) => {
      if (!t.includes('"task:assign"')) return;
      const id = /"taskId":"([^"]+)"/.exec(t)?.[1];
      if (!id) return;
      done++;
      w.send(`{"type":"task:result","data":{"taskId":"${id}","ok":true,"result":{"n":1}}}`);
    };
    w.send(
      JSON.stringify({
        type: 'register',
        data: { nodeId: `worker-${i}`, capabilities: ['echo'], maxTasks: 64 },
      }),
    );
    ws.push(w);
  }
  await new Promise((r) => setTimeout(r, 300));
  const start = performance.now();
  const url = `http://127.0.0.1:${s.port}/v1/pulse/tasks`;
  const body = JSON.stringify({ kind: 'echo', payload: { x: 1 }, capability: 'echo', timeoutMs: 30_000 });
  for (let i = 0; i < tasks; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, tasks - i) }, () =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_KEY}` },
          body,
        }).then((r) => r.arrayBuffer()),
      ),
    );
  }
  await waitFor(() => done >= tasks, 60_000);
  const rate = done / ((performance.now() - start) / 1000);
  for (const w of ws) w.close();
  return rate;
}

export async function benchPulse(opts: {
  nodes: number;
  subs: number;
  rate: number;
  seconds: number;
  workers: number;
  tasks: number;
  log: (s: string) => void;
}): Promise<PulseFigures[]> {
  const env = {
    P3_AUTH_SECRET: SECRET,
    P3_SERVICE_KEY: SERVICE_KEY,
    P3_MAX_PENDING_PER_IP: '100000',
    P3_RATE_LIMIT: '100000',
    P3_RATE_BURST: '100000',
  };
  const out: PulseFigures[] = [];
  for (const [name, module, p3] of [
    ['raw ws broadcast', 'ws-broadcast.ts', false],
    ['p3 pulse', 'p3.ts', true],
  ] as const) {
    const s = await startBenchServer(name, module, env, { core: 0 });
    try {
      const m = await metricsFanout(s, p3, opts.nodes, opts.subs, opts.rate, opts.seconds);
      opts.log(
        `pulse: ${name}: ${Math.round(m.updatesPerSec)} updates/s → ${Math.round(m.deliveredPerSec)} deliveries/s, p99 ${m.p99.toFixed(1)} ms`,
      );
      const fig: PulseFigures = { server: name, ...m };
      if (p3) {
        fig.tasksPerSec = await taskThroughput(s, opts.workers, opts.tasks);
        opts.log(`pulse: ${name}: ${Math.round(fig.tasksPerSec)} tasks/s with ${opts.workers} workers`);
      }
      out.push(fig);
    } finally {
      await s.stop();
    }
  }
  return out;
}
