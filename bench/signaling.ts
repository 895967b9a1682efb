import { randomBytes } from 'node:crypto';
import { createTokenService } from '../src/server/auth/tokens.js';
import { findCapacity, type Pair, runOpenLoop, type StepResult } from './lib/load.js';
import { type BenchServer, startBenchServer } from './lib/server-process.js';
import { MiniWs } from './lib/wsclient.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';
// an ICE candidate of realistic size; the send time is appended as "t"
const CANDIDATE =
  'candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx raddr 10.0.0.12 rport 54321 generation 0 ufrag 4ZcD network-cost 999';

/** Connections opened and closed before an idle-heap measurement (one-off costs). */
export const WARM_CONNECTIONS = 500;

export interface RelayFigures {
  server: string;
  at10k: StepResult;
  capacity: number;
  capacitySteps: StepResult[];
  heapPerIdleConnBytes: number;
}

export type Connector = (server: BenchServer, i: number) => Promise<Pair>;

const waitText = (ws: MiniWs, pred: (t: string) => boolean, ms = 15_000) =>
  new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a frame')), ms);
    const prev = ws.onText;
    ws.onText = (t) => {
      if (pred(t)) {
        clearTimeout(timer);
        ws.onText = prev;
        resolve(t);
      } else prev(t);
    };
  });

export const rawConnector: Connector = async (s, i) => {
  const a = await MiniWs.open(s.port, `/?pair=${i}`);
  const pa = waitText(a, (t) => t.includes('paired'));
  const b = await MiniWs.open(s.port, `/?pair=${i}`);
  await pa;
  const frame = `{"type":"ice","roomId":"r${i}","data":{"candidate":"${CANDIDATE}","sdpMid":"0","sdpMLineIndex":0,"t":__T__}}`;
  return { a, b, frameAtoB: frame, frameBtoA: frame };
};

/** The p3 server's settings for these benches: the clients all come from one address. */
export const SIGNALING_ENV = {
  P3_AUTH_SECRET: SECRET,
  P3_MAX_PENDING_PER_IP: '1000000',
  P3_MAX_CONNECTIONS_PER_ADDRESS: '1000',
};

const tokens = createTokenService({ secret: SECRET, ttlSec: 3600 });
const randomAddress = () => `0x${randomBytes(20).toString('hex')}`;

async function p3Client(s: BenchServer): Promise<MiniWs> {
  const { token } = await tokens.issue(randomAddress());
  const ws = await MiniWs.open(s.port, `/signaling?token=${token}`);
  await waitText(ws, (t) => t.includes('"auth_ok"'));
  return ws;
}

export const p3Connector: Connector = async (s, i) => {
  const [a, b] = await Promise.all([p3Client(s), p3Client(s)]);
  const roomId = `bench-${i}`;
  const ja = waitText(a, (t) => t.includes('"joined"'));
  a.send(JSON.stringify({ type: 'join', roomId }));
  await ja;
  const jb = waitText(b, (t) => t.includes('"joined"'));
  b.send(JSON.stringify({ type: 'join', roomId }));
  await jb;
  const frame = `{"type":"ice","roomId":"${roomId}","data":{"candidate":"${CANDIDATE}","sdpMid":"0","sdpMLineIndex":0,"t":__T__}}`;
  return { a, b, frameAtoB: frame, frameBtoA: frame };
};

export const peerjsConnector: Connector = async (s, i) => {
  const open = async (id: string) => {
    const ws = await MiniWs.open(
      s.port,
      `/peerjs?key=peerjs&id=${id}&token=${randomBytes(6).toString('hex')}`,
    );
    await waitText(ws, (t) => t.includes('"OPEN"'));
    return ws;
  };
  const [a, b] = await Promise.all([open(`a${i}`), open(`b${i}`)]);
  const frame = (dst: string) =>
    `{"type":"CANDIDATE","dst":"${dst}","payload":{"candidate":{"candidate":"${CANDIDATE}","sdpMid":"0","sdpMLineIndex":0},"t":__T__}}`;
  return { a, b, frameAtoB: frame(`b${i}`), frameBtoA: frame(`a${i}`) };
};

export async function openPairs(s: BenchServer, connect: Connector, n: number): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, n - i) }, (_, j) => connect(s, i + j)));
    pairs.push(...batch);
  }
  return pairs;
}

async function idleHeap(s: BenchServer, open: (i: number) => Promise<MiniWs>, n: number): Promise<number> {
  // a first round pays the one-off costs (compiled code, caches, metric series), not
  // counted: 500 connections, in batches, by which the connect path's code is optimised (with
  // 50, JIT code compiled later still showed up as ≈ 200 bytes per connection)
  const warm: MiniWs[] = [];
  for (let i = 0; i < WARM_CONNECTIONS; i += 50) {
    warm.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => open(200_000 + i + j)))));
  }
  for (const c of warm) c.close();
  await new Promise((r) => setTimeout(r, 300));
  const before = await s.heap();
  const conns: MiniWs[] = [];
  for (let i = 0; i < n; i += 50) {
    conns.push(
      ...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => open(100_000 + i + j)))),
    );
  }
  const after = await s.heap();
  for (const c of conns) c.close();
  return (after - before) / n;
}

export async function benchSignaling(opts: {
  pairs: number;
  seconds: number;
  rates: number[];
  idleConns: number;
  log: (s: string) => void;
  /** Only the servers whose name contains this (profiling one server). */
  server?: string;
}): Promise<RelayFigures[]> {
  const targets: [string, string, Connector, (s: BenchServer, i: number) => Promise<MiniWs>][] = [
    ['raw ws relay', 'ws-relay.ts', rawConnector, (s, i) => MiniWs.open(s.port, `/?pair=idle${i}`)],
    ['p3 signaling', 'p3.ts', p3Connector, (s) => p3Client(s)],
    [
      'PeerJS server',
      'peerjs.ts',
      peerjsConnector,
      async (s, i) => {
        const ws = await MiniWs.open(s.port, `/peerjs?key=peerjs&id=idle${i}&token=t`);
        await waitText(ws, (t) => t.includes('"OPEN"'));
        return ws;
      },
    ],
  ];
  const out: RelayFigures[] = [];
  for (const [name, module, connect, idle] of targets) {
    if (opts.server && !name.includes(opts.server)) continue;
    const s = await startBenchServer(name, module, SIGNALING_ENV, { core: 0 });
    try {
      // idle connections first, on the fresh server: later phases leave garbage behind
      const heapPerIdleConnBytes = await idleHeap(s, (i) => idle(s, i), opts.idleConns);
      opts.log(`signaling: ${name}: ${Math.round(heapPerIdleConnBytes)} B heap per idle connection`);
      opts.log(`signaling: ${name}: opening ${opts.pairs} pairs`);
      const pairs = await openPairs(s, connect, opts.pairs);
      // warm-up: JIT, buffers, the young generation
      await runOpenLoop(pairs, 5_000, 2, s.cpu);
      // three runs, the median one by p99: one GC or timer landing in a single run is noise
      const runs: StepResult[] = [];
      for (let r = 0; r < 3; r++) runs.push(await runOpenLoop(pairs, 10_000, opts.seconds, s.cpu));
      runs.sort((x, y) => x.p99 - y.p99);
      const at10k = runs[1]!;
      opts.log(`signaling: ${name}: 10k/s p50 ${at10k.p50.toFixed(2)} p99 ${at10k.p99.toFixed(2)} ms`);
      const cap = await findCapacity(pairs, opts.rates, opts.seconds, s.cpu);
      opts.log(`signaling: ${name}: capacity ${cap.capacity}/s`);
      for (const p of pairs) {
        p.a.close();
        p.b.close();
      }
      out.push({
        server: name,
        at10k,
        capacity: cap.capacity,
        capacitySteps: cap.steps,
        heapPerIdleConnBytes,
      });
    } finally {
      await s.stop();
    }
  }
  return out;
}
