import { randomBytes } from 'node:crypto';
import { getAddress } from 'viem';
import { createTokenService } from '../src/server/auth/tokens.js';
import { sendAtRate, settle } from './lib/load.js';
import { type BenchServer, startBenchServer } from './lib/server-process.js';
import { MiniSio } from './lib/sioclient.js';
import { percentiles } from './lib/stats.js';
import { WARM_CONNECTIONS } from './signaling.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface DmFigures {
  server: string;
  steps: DmStep[];
  /** Highest offered rate with p99 ≤ 10 ms and nothing late past 3 s. */
  capacity: number;
  heapPerConnBytes: number;
  announceLastMs: number;
}

export interface Endpoint {
  open(node: BenchServer, id: string): Promise<MiniSio>;
  /** The event text of one DM from `from` to `to` (content ends with |t=<send time>). */
  send(client: MiniSio, to: string, content: string): void;
  receiveEvent: string;
  /** Per received DM, what the receiving app must send back (p3: ack for the inbox). */
  onReceive?(client: MiniSio, raw: string): void;
}

const tokens = createTokenService({ secret: SECRET, ttlSec: 3600 });
const PAD = 'x'.repeat(200);

export const stock: Endpoint = {
  open: (node, id) => MiniSio.open(node.port, { id }),
  send: (c, to, content) => c.emitRaw('dm', JSON.stringify({ to, content })),
  receiveEvent: 'dm',
};

export const p3: Endpoint = {
  async open(node, id) {
    const { token } = await tokens.issue(id);
    return MiniSio.open(node.port, { token });
  },
  // with an ack id, as the SDK sends it (the ack is the sender's confirmation)
  send: (c, to, content) => c.ws.send(`421["message:send",${JSON.stringify({ to, content })}]`),
  receiveEvent: 'message:receive',
  onReceive(c, raw) {
    const id = /"id":"([^"]+)"/.exec(raw)?.[1];
    if (id) c.emitRaw('message:ack', `{"ids":["${id}"]}`);
  },
};

export async function openClients(nodes: [BenchServer, BenchServer], ep: Endpoint, pairs: number) {
  const ids = Array.from({ length: pairs * 2 }, () => getAddress(`0x${randomBytes(20).toString('hex')}`));
  const clients: MiniSio[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    clients.push(
      ...(await Promise.all(ids.slice(i, i + 50).map((id, j) => ep.open(nodes[(i + j) % 2]!, id)))),
    );
  }
  return { ids, clients };
}

interface DmStep {
  rate: number;
  sent: number;
  received: number;
  p50: number;
  p99: number;
  p999: number;
  serverCpu: number;
}

/** Waits (at most 15 s) until both nodes together use under 10 % of a core over 500 ms. */
export async function quiet(nodes: [BenchServer, BenchServer]): Promise<void> {
  const end = performance.now() + 15_000;
  while (performance.now() < end) {
    const c0 = nodes[0].cpu() + nodes[1].cpu();
    await new Promise((r) => setTimeout(r, 500));
    if (nodes[0].cpu() + nodes[1].cpu() - c0 < 0.05) return;
  }
}

/** One open-loop step of DMs: client 2k (node A) ⇄ client 2k+1 (node B), every DM crosses nodes. */
export async function dmStep(
  nodes: [BenchServer, BenchServer],
  ep: Endpoint,
  c: { ids: string[]; clients: MiniSio[] },
  rate: number,
  seconds: number,
): Promise<DmStep> {
  const pairs = c.clients.length / 2;
  const samples: number[] = [];
  let received = 0;
  for (const client of c.clients) {
    client.onEvent = (event, raw) => {
      if (event !== ep.receiveEvent) return;
      const i = raw.lastIndexOf('|t=');
      if (i < 0) return;
      received++;
      samples.push(performance.now() - Number.parseFloat(raw.slice(i + 3)));
      ep.onReceive?.(client, raw);
    };
  }
  const cpu0 = nodes[0].cpu() + nodes[1].cpu();
  const start = performance.now();
  const sent = await sendAtRate(rate, seconds, (i) => {
    const k = i % pairs;
    const forward = Math.floor(i / pairs) % 2 === 0;
    ep.send(
      c.clients[2 * k + (forward ? 0 : 1)]!,
      c.ids[2 * k + (forward ? 1 : 0)]!,
      `${PAD}|t=${performance.now().toFixed(3)}`,
    );
  });
  await settle(() => received >= sent, 3_000);
  const elapsed = (performance.now() - start) / 1000;
  const pc = percentiles(samples);
  return {
    rate,
    sent,
    received,
    p50: pc.p50,
    p99: pc.p99,
    p999: pc.p999,
    serverCpu: (nodes[0].cpu() + nodes[1].cpu() - cpu0) / elapsed,
  };
}

/** The two servers of the DM bench: name, bench server module, endpoint, environment. */
export function dmTargets(): [string, string, Endpoint, Record<string, string>][] {
  const stream = `bench-${randomBytes(4).toString('hex')}`;
  return [
    [
      'stock Socket.IO + Redis adapter',
      'socketio-stock.ts',
      stock,
      { BENCH_REDIS_URL: REDIS, BENCH_STREAM: stream },
    ],
    [
      'p3 messaging (2 nodes, Redis)',
      'p3.ts',
      p3,
      {
        REDIS_URL: REDIS,
        P3_AUTH_SECRET: SECRET,
        P3_MAX_PENDING_PER_IP: '100000',
        P3_MAX_CONNECTIONS_PER_ADDRESS: '100000',
      },
    ],
  ];
}

export async function benchMessaging(opts: {
  pairs: number;
  rates: number[];
  seconds: number;
  idle: number;
  log: (s: string) => void;
  /** Only the servers whose name contains this (profiling one server). */
  server?: string;
}): Promise<DmFigures[]> {
  const targets = dmTargets();
  const out: DmFigures[] = [];
  for (const [name, module, ep, env] of targets) {
    if (opts.server && !name.includes(opts.server)) continue;
    const a = await startBenchServer(`${name} A`, module, env, { core: 0 });
    const b = await startBenchServer(`${name} B`, module, env, { core: 0 });
    try {
      // heap per idle connection first, on a fresh node, after a round that pays one-off costs
      const warm: MiniSio[] = [];
      for (let i = 0; i < WARM_CONNECTIONS; i += 50) {
        warm.push(
          ...(await Promise.all(
            Array.from({ length: 50 }, () => ep.open(a, getAddress(`0x${randomBytes(20).toString('hex')}`))),
          )),
        );
      }
      for (const w of warm) w.close();
      await new Promise((res) => setTimeout(res, 300));
      const h0 = await a.heap();
      const idle: MiniSio[] = [];
      for (let i = 0; i < opts.idle; i += 50) {
        idle.push(
          ...(await Promise.all(
            Array.from({ length: Math.min(50, opts.idle - i) }, () =>
              ep.open(a, getAddress(`0x${randomBytes(20).toString('hex')}`)),
            ),
          )),
        );
      }
      const heapPerConnBytes = ((await a.heap()) - h0) / opts.idle;
      for (const c of idle) c.close();
      opts.log(`messaging: ${name}: ${Math.round(heapPerConnBytes)} B heap per idle connection`);

      opts.log(`messaging: ${name}: ${opts.pairs} pairs across 2 nodes`);
      const c = await openClients([a, b], ep, opts.pairs);
      // one announcement to every client on node A, before any load (time to the last)
      const announce = c.clients.filter((_, i) => i % 2 === 0);
      let got = 0;
      let last = 0;
      for (const cl of announce) {
        cl.onEvent = (event) => {
          if (event === 'system:announcement' || event === 'announce') {
            got++;
            last = performance.now();
          }
        };
      }
      // the publisher is connected before the clock starts: only the fan-out is timed
      const { Redis } = await import('ioredis');
      const redis = module === 'p3.ts' ? new Redis(REDIS) : undefined;
      await redis?.ping();
      await new Promise((res) => setTimeout(res, 500));
      const t0 = performance.now();
      if (redis) {
        await redis.publish('p3:broadcast', JSON.stringify({ text: PAD }));
      } else {
        announce[0]!.emitRaw('announce-all', JSON.stringify({ text: PAD }));
      }
      await settle(() => got >= announce.length, 10_000);
      await redis?.quit();
      const announceLastMs = got >= announce.length ? last - t0 : Number.NaN;
      opts.log(`messaging: ${name}: announcement to ${announce.length}: ${announceLastMs.toFixed(1)} ms`);

      // let connect/disconnect work (presence, recovery) finish before timing anything
      await quiet([a, b]);
      await dmStep([a, b], ep, c, 500, 3); // warm-up
      const steps: DmStep[] = [];
      let capacity = 0;
      let missed = 0;
      for (const rate of opts.rates) {
        const r = await dmStep([a, b], ep, c, rate, opts.seconds);
        steps.push(r);
        opts.log(
          `messaging: ${name}: ${rate}/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} ms, lost ${r.sent - r.received}, CPU ${r.serverCpu.toFixed(2)}`,
        );
        // two missed steps in a row end the search (one alone is a pause, not the limit)
        if (r.p99 > 10 || r.received < r.sent) {
          if (++missed >= 2) break;
          continue;
        }
        missed = 0;
        capacity = rate;
      }
      for (const cl of c.clients) cl.close();
      out.push({ server: name, steps, capacity, heapPerConnBytes, announceLastMs });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
  return out;
}
