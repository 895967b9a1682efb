import { runOpenLoop, type StepResult } from './lib/load.js';
import { startBenchServer } from './lib/server-process.js';
import { MiniWs } from './lib/wsclient.js';
import { openP3 } from './pulse.js';
import { p3Connector } from './signaling.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';

/** Arrival bookkeeping for fan-outs whose frames carry their send time as `"t":<ms>`. */
function fanoutClock(subscribers: () => number) {
  const arrivals = new Map<string, { sent: number; last: number; n: number }>();
  return {
    stamp(): string {
      const t = performance.now().toFixed(3);
      arrivals.set(t, { sent: Number(t), last: 0, n: 0 });
      return t;
    },
    onText(text: string) {
      const i = text.indexOf('"t":');
      if (i < 0) return;
      const a = arrivals.get(text.slice(i + 4, text.indexOf('}', i)));
      if (!a) return;
      a.last = performance.now();
      a.n++;
    },
    /** The median time until the last subscriber had a fan-out, over the complete ones. */
    medianLastMs(): { ms: number; complete: number } {
      const lasts = [...arrivals.values()]
        .filter((a) => a.n >= subscribers())
        .map((a) => a.last - a.sent)
        .sort((x, y) => x - y);
      return { ms: lasts[Math.floor(lasts.length / 2)] ?? Number.NaN, complete: lasts.length };
    },
  };
}

/** A raw `ws` broadcast hub (serialise once, loop over the sockets) fanning out to `subs`. */
async function rawBroadcastLastMs(subs: number, rounds: number): Promise<number> {
  const s = await startBenchServer('raw ws broadcast', 'ws-broadcast.ts', {}, { core: 0 });
  const sockets: MiniWs[] = [];
  try {
    const clock = fanoutClock(() => subs);
    for (let i = 0; i < subs; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, subs - i) }, () => MiniWs.open(s.port, '/?role=sub')),
      );
      for (const ws of batch) ws.onText = clock.onText;
      sockets.push(...batch);
    }
    const pub = await MiniWs.open(s.port, '/?role=pub');
    sockets.push(pub);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < rounds; i++) {
      pub.send(`{"type":"metrics","data":{"cpu":0.42,"memory":0.61,"t":${clock.stamp()}}}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    return clock.medianLastMs().ms;
  } finally {
    for (const w of sockets) w.close();
    await s.stop();
  }
}

export interface FanoutRelayFigures {
  dashboards: number;
  /** Signaling relays with no fan-out running. */
  quiet: StepResult;
  /** The same relays while a metrics update goes to every dashboard once a second. */
  duringFanout: StepResult;
  /** Per fan-out: ms from the update's send until the last dashboard had it (median of the run). */
  fanoutLastMs: number;
  /** The same for a raw `ws` broadcast hub to as many sockets. */
  rawLastMs: number;
}

/**
 * One p3 node carries signaling relays while a pulse node's metrics go to `dashboards`
 * subscribers once a second: the relays' p99 with the fan-outs running, next to the same
 * relays on the same server without them. Without slicing, a fan-out to 10,000 sockets
 * holds the event loop for its whole length and every relay waiting behind it takes that long.
 */
export async function benchRelayDuringFanout(opts: {
  pairs: number;
  rate: number;
  seconds: number;
  dashboards: number;
  log: (s: string) => void;
}): Promise<FanoutRelayFigures> {
  const s = await startBenchServer(
    'p3 (relays + pulse fan-out)',
    'p3.ts',
    {
      P3_AUTH_SECRET: SECRET,
      P3_MAX_PENDING_PER_IP: '1000000',
      P3_MAX_CONNECTIONS_PER_ADDRESS: '1000',
      P3_RATE_LIMIT: '100000',
      P3_RATE_BURST: '100000',
    },
    { core: 0 },
  );
  const sockets: MiniWs[] = [];
  try {
    const clock = fanoutClock(() => opts.dashboards);
    for (let i = 0; i < opts.dashboards; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, opts.dashboards - i) }, async () => {
          const ws = await openP3(s);
          ws.send('{"type":"subscribe","data":{"topics":["metrics"]}}');
          ws.onText = clock.onText;
          return ws;
        }),
      );
      sockets.push(...batch);
    }
    opts.log(`fan-out: ${opts.dashboards} dashboards subscribed`);
    const node = await openP3(s);
    node.send(
      JSON.stringify({ type: 'register', data: { nodeId: 'bench-fanout', capabilities: ['bench'] } }),
    );
    sockets.push(node);
    const pairs = [];
    for (let i = 0; i < opts.pairs; i += 25) {
      pairs.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(25, opts.pairs - i) }, (_, j) => p3Connector(s, i + j)),
        )),
      );
    }
    for (const p of pairs) sockets.push(p.a, p.b);
    await runOpenLoop(pairs, opts.rate, 2, s.cpu); // warm-up
    const quiet = await runOpenLoop(pairs, opts.rate, opts.seconds, s.cpu);
    opts.log(`fan-out: relays alone p99 ${quiet.p99.toFixed(2)} ms`);

    const publish = () =>
      node.send(`{"type":"metrics","data":{"cpu":0.42,"memory":0.61,"t":${clock.stamp()}}}`);
    publish();
    const timer = setInterval(publish, 1_000);
    const duringFanout = await runOpenLoop(pairs, opts.rate, opts.seconds, s.cpu);
    clearInterval(timer);
    opts.log(`fan-out: relays during fan-outs p99 ${duringFanout.p99.toFixed(2)} ms`);
    const { ms: fanoutLastMs, complete } = clock.medianLastMs();
    opts.log(`fan-out: ${complete} complete fan-outs, median last receipt ${fanoutLastMs.toFixed(0)} ms`);
    for (const w of sockets.splice(0)) w.close();
    await s.stop();
    const rawLastMs = await rawBroadcastLastMs(opts.dashboards, opts.seconds);
    opts.log(`fan-out: raw ws broadcast median last receipt ${rawLastMs.toFixed(0)} ms`);
    return { dashboards: opts.dashboards, quiet, duringFanout, fanoutLastMs, rawLastMs };
  } finally {
    for (const w of sockets) w.close();
    await s.stop();
  }
}
