import { createTokenService } from '../src/server/auth/tokens.js';
import { type BenchServer, startBenchServer } from './lib/server-process.js';
import { MiniSse } from './lib/sseclient.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';
const SERVICE_KEY = 'bench-service-key-0123456789';
const OWNER = '0x00000000000000000000000000000000000000b1';

export interface LaneFigures {
  server: string;
  fanoutLastMs: number;
  eventsPerSec: number;
  heapPerStreamBytes: number;
  resume1000Ms: number;
}

interface Target {
  name: string;
  module: string;
  setup(
    s: BenchServer,
  ): Promise<{ path: string; headers: Record<string, string>; publish(body: unknown): Promise<void> }>;
}

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
};

const bare: Target = {
  name: 'bare node:http SSE',
  module: 'sse-bare.ts',
  async setup(s) {
    return {
      path: '/sse',
      headers: {},
      publish: async (body) => void (await post(`http://127.0.0.1:${s.port}/publish`, body)),
    };
  },
};

const tokens = createTokenService({ secret: SECRET, ttlSec: 3600 });
const p3: Target = {
  name: 'p3 lanes',
  module: 'p3.ts',
  async setup(s) {
    const { token } = await tokens.issue(OWNER);
    const { sid } = await post(
      `http://127.0.0.1:${s.port}/v1/session`,
      {},
      { authorization: `Bearer ${token}` },
    );
    return {
      path: `/v1/session/${sid}/lane/catalog?token=${token}`,
      headers: {},
      publish: async (body) =>
        void (await post(`http://127.0.0.1:${s.port}/v1/session/${sid}/lane/catalog/events`, body, {
          authorization: `Bearer ${SERVICE_KEY}`,
        })),
    };
  },
};

async function openStreams(s: BenchServer, path: string, n: number, onData: (line: string) => void) {
  const out: MiniSse[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, () => MiniSse.open(s.port, path)),
    );
    for (const c of batch) c.onData = onData;
    out.push(...batch);
  }
  return out;
}

export async function benchLanes(opts: { subscribers: number; events: number; log: (s: string) => void }) {
  const env = {
    P3_AUTH_SECRET: SECRET,
    P3_SERVICE_KEY: SERVICE_KEY,
    P3_MAX_CONNECTIONS_PER_ADDRESS: '100000',
    P3_MAX_PENDING_PER_IP: '1000000',
  };
  const out: LaneFigures[] = [];
  for (const target of [bare, p3]) {
    const s = await startBenchServer(target.name, target.module, env, { core: 0 });
    try {
      const t = await target.setup(s);
      // memory per idle stream
      const heap0 = await s.heap();
      let got = 0;
      let want = 0;
      let seq = 0;
      let lastAt = 0;
      const onData = (line: string) => {
        if (line.includes(`"seq":${seq}`)) {
          got++;
          if (got === want) lastAt = performance.now();
        }
      };
      const streams = await openStreams(s, t.path, opts.subscribers, onData);
      const heapPerStreamBytes = ((await s.heap()) - heap0) / opts.subscribers;
      opts.log(
        `lanes: ${target.name}: ${opts.subscribers} streams, ${Math.round(heapPerStreamBytes)} B each`,
      );
      // fan-out: one event to every stream, time until the last one has it (median of 5)
      const fanouts: number[] = [];
      for (let r = 0; r < 6; r++) {
        seq = 1_000 + r;
        got = 0;
        want = streams.length;
        const t0 = performance.now();
        await t.publish({ type: 'update', data: { seq, pad: 'x'.repeat(200) } });
        while (got < want && performance.now() - t0 < 30_000) await new Promise((res) => setTimeout(res, 1));
        if (r > 0) fanouts.push(lastAt - t0);
      }
      fanouts.sort((a, b) => a - b);
      const fanoutLastMs = fanouts[Math.floor(fanouts.length / 2)]!;
      opts.log(`lanes: ${target.name}: fan-out to ${streams.length}: ${fanoutLastMs.toFixed(1)} ms`);
      for (const c of streams) c.close();
      await new Promise((res) => setTimeout(res, 200));
      // events per second to one subscriber, published in batches of 500
      let received = 0;
      const one = await MiniSse.open(s.port, t.path);
      one.onData = (line) => {
        if (line.includes('"n":')) received++;
      };
      const t0 = performance.now();
      for (let i = 0; i < opts.events; i += 500) {
        await t.publish(
          Array.from({ length: Math.min(500, opts.events - i) }, (_, j) => ({
            type: 'update',
            data: { n: i + j },
          })),
        );
      }
      while (received < opts.events && performance.now() - t0 < 60_000)
        await new Promise((res) => setTimeout(res, 2));
      const eventsPerSec = received / ((performance.now() - t0) / 1000);
      one.close();
      opts.log(`lanes: ${target.name}: ${Math.round(eventsPerSec)} events/s to one subscriber`);
      // resume: 1,000 retained events replayed after Last-Event-ID
      const probe = await MiniSse.open(s.port, t.path);
      const ids: string[] = [];
      let text = '';
      probe.socket.on('data', (d: Buffer | string) => {
        text += String(d);
        let i = text.indexOf('\n\n');
        while (i >= 0) {
          const block = text.slice(0, i);
          text = text.slice(i + 2);
          const id = /(?:^|\n)id: ([^\n]+)/.exec(block)?.[1];
          if (id && block.includes('"r":')) ids.push(id);
          i = text.indexOf('\n\n');
        }
      });
      await t.publish(Array.from({ length: 1000 }, (_, j) => ({ type: 'update', data: { r: j } })));
      const p0 = performance.now();
      while (ids.length < 1000 && performance.now() - p0 < 30_000)
        await new Promise((res) => setTimeout(res, 5));
      const firstId = ids[0] ?? '0';
      probe.close();
      let replayed = 0;
      const r0 = performance.now();
      let r1 = 0;
      const resumed = await MiniSse.open(s.port, t.path, { 'Last-Event-ID': firstId });
      resumed.onData = (line) => {
        if (line.includes('"r":')) {
          replayed++;
          if (replayed === 999) r1 = performance.now();
        }
      };
      while (replayed < 999 && performance.now() - r0 < 10_000)
        await new Promise((res) => setTimeout(res, 1));
      resumed.close();
      out.push({
        server: target.name,
        fanoutLastMs,
        eventsPerSec,
        heapPerStreamBytes,
        resume1000Ms: r1 - r0,
      });
    } finally {
      await s.stop();
    }
  }
  return out;
}
