// Diagnosis: one server (signaling) or two nodes (DMs) under a steady rate, for profiling
// (`BENCH_NODE_FLAGS="--max-semi-space-size=64 --cpu-prof --cpu-prof-dir=/tmp/prof"`) or
// comparing two builds run after run. The p3 server runs dist/: build first
// (`npx tsc -p tsconfig.build.json`). Pinned as bench/run.sh pins the bench:
// `taskset -c 1 npx tsx bench/steady.ts <p3|raw|peerjs|dm-p3|dm-stock> <rate> <seconds> [runs]`.
// Only the steady steps: no idle-heap or announcement phase, so the figures are for
// comparing runs of this script, not for the bench table.
import { runOpenLoop } from './lib/load.js';
import { startBenchServer } from './lib/server-process.js';
import { dmStep, dmTargets, openClients, quiet } from './messaging.js';
import {
  type Connector,
  openPairs,
  p3Connector,
  peerjsConnector,
  rawConnector,
  SIGNALING_ENV,
} from './signaling.js';

const [which = 'p3', rateArg = '20000', secondsArg = '10', runsArg = '1'] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const runs = Number(runsArg);
if (!(rate > 0 && seconds > 0 && Number.isInteger(runs) && runs > 0)) {
  throw new Error('rate and seconds must be positive numbers, runs a positive integer');
}

/** One run's figures, on stdout. */
const report = (x: {
  rate: number;
  p50: number;
  p99: number;
  p999: number;
  serverCpu: number;
  lost: number;
}) =>
  console.log(
    `${which} ${x.rate}/s p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)} p999 ${x.p999.toFixed(2)} ms, cpu ${x.serverCpu.toFixed(3)}, lost ${x.lost}`,
  );

/** Progress on stderr, with the time (to line up with BENCH_STALLS and --trace-gc). */
const log = (what: string) => console.error(`${new Date().toISOString()} ${what}`);

if (which.startsWith('dm-')) {
  const kind = which.slice(3);
  const target = kind ? dmTargets().find(([name]) => name.startsWith(kind)) : undefined;
  if (!target) throw new Error(`unknown DM server ${which}: dm-p3 or dm-stock`);
  const [name, module, ep, env] = target;
  const a = await startBenchServer(`${name} A`, module, env, { core: 0 });
  const b = await startBenchServer(`${name} B`, module, env, { core: 0 });
  try {
    const c = await openClients([a, b], ep, 1000);
    log('clients connected');
    await quiet([a, b]);
    log('quiet');
    await dmStep([a, b], ep, c, 500, 3);
    log('warmed up');
    for (let r = 0; r < runs; r++) {
      log(`run ${r + 1}`);
      const x = await dmStep([a, b], ep, c, rate, seconds);
      report({ ...x, lost: x.sent - x.received });
    }
    for (const cl of c.clients) cl.close();
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
} else {
  const servers: Record<string, [string, Connector]> = {
    p3: ['p3.ts', p3Connector],
    raw: ['ws-relay.ts', rawConnector],
    peerjs: ['peerjs.ts', peerjsConnector],
  };
  const picked = servers[which];
  if (!picked) throw new Error(`unknown server ${which}: p3, raw, peerjs, dm-p3 or dm-stock`);
  const s = await startBenchServer(which, picked[0], SIGNALING_ENV, { core: 0 });
  try {
    const pairs = await openPairs(s, picked[1], 1000);
    await runOpenLoop(pairs, 5_000, 2, s.cpu);
    for (let r = 0; r < runs; r++) {
      const x = await runOpenLoop(pairs, rate, seconds, s.cpu);
      report(x);
    }
    for (const p of pairs) {
      p.a.close();
      p.b.close();
    }
  } finally {
    await s.stop();
  }
}
