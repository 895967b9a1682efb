import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { benchRelayDuringFanout } from './fanout.js';
import { benchLanes } from './lanes.js';
import { NODE_FLAGS } from './lib/server-process.js';
import { round } from './lib/stats.js';
import { benchMessaging } from './messaging.js';
import { benchPulse } from './pulse.js';
import { benchSignaling } from './signaling.js';

/**
 * `npm run bench [-- <name>…] [--quick]`: every figure next to a baseline measured in the
 * same run, as a table with ratios, written to bench/results/latest.{json,md}.
 * The servers run pinned to core 0, this load generator on core 1 (see package.json).
 */
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));
/** `--server=p3`: only the servers whose name contains this (signaling, messaging), for profiling one. */
const server = args.find((a) => a.startsWith('--server='))?.slice('--server='.length);
const want = (name: string) => only.length === 0 || only.includes(name);
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

interface Row {
  bench: string;
  figure: string;
  ours: number;
  baseline: number;
  baselineName: string;
  unit: string;
  /** 'lower' when a smaller figure is better */
  better: 'lower' | 'higher';
  target?: string;
}
const rows: Row[] = [];
const raw: Record<string, unknown> = {};

if (want('signaling')) {
  const figs = await benchSignaling({
    pairs: quick ? 200 : 1000,
    seconds: quick ? 2 : 4,
    rates: quick
      ? [2_000, 5_000, 10_000]
      : [2_000, 4_000, 6_000, 8_000, 10_000, 15_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000],
    idleConns: quick ? 500 : 2000,
    log,
    ...(server ? { server } : {}),
  });
  raw.signaling = figs;
  const [base, ours, peer] = figs;
  if (base && ours) {
    rows.push(
      {
        bench: 'signaling',
        figure: 'relay p99 @10k msg/s (median of 3 runs)',
        ours: ours.at10k.p99,
        baseline: base.at10k.p99,
        baselineName: base.server,
        unit: 'ms',
        better: 'lower',
        target: '≤ 1.5×',
      },
      {
        bench: 'signaling',
        figure: 'relay p50 @10k msg/s',
        ours: ours.at10k.p50,
        baseline: base.at10k.p50,
        baselineName: base.server,
        unit: 'ms',
        better: 'lower',
      },
      {
        bench: 'signaling',
        figure: 'server CPU @10k msg/s',
        ours: ours.at10k.serverCpu,
        baseline: base.at10k.serverCpu,
        baselineName: base.server,
        unit: 'cores',
        better: 'lower',
      },
      {
        bench: 'signaling',
        figure: 'capacity at p99 ≤ 10 ms',
        ours: ours.capacity,
        baseline: base.capacity,
        baselineName: base.server,
        unit: 'msg/s',
        better: 'higher',
        target: '≥ 0.8×',
      },
      {
        bench: 'signaling',
        figure: 'heap per idle authenticated conn',
        ours: ours.heapPerIdleConnBytes,
        baseline: base.heapPerIdleConnBytes,
        baselineName: base.server,
        unit: 'bytes',
        better: 'lower',
        target: '≤ 1.5×',
      },
    );
  }
  if (peer && ours) {
    rows.push(
      {
        bench: 'signaling',
        figure: 'relay p99 @10k msg/s (median of 3 runs)',
        ours: ours.at10k.p99,
        baseline: peer.at10k.p99,
        baselineName: peer.server,
        unit: 'ms',
        better: 'lower',
        target: 'ahead',
      },
      {
        bench: 'signaling',
        figure: 'capacity at p99 ≤ 10 ms',
        ours: ours.capacity,
        baseline: peer.capacity,
        baselineName: peer.server,
        unit: 'msg/s',
        better: 'higher',
        target: 'ahead',
      },
      {
        bench: 'signaling',
        figure: 'heap per idle conn',
        ours: ours.heapPerIdleConnBytes,
        baseline: peer.heapPerIdleConnBytes,
        baselineName: peer.server,
        unit: 'bytes',
        better: 'lower',
        target: 'ahead',
      },
    );
  }
}

if (want('lanes')) {
  const figs = await benchLanes({ subscribers: quick ? 1_000 : 10_000, events: quick ? 5_000 : 20_000, log });
  raw.lanes = figs;
  const [base, ours] = figs;
  if (base && ours) {
    const name = base.server;
    rows.push(
      {
        bench: 'lanes',
        figure: `fan-out: last of ${quick ? '1k' : '10k'} streams has the event`,
        ours: ours.fanoutLastMs,
        baseline: base.fanoutLastMs,
        baselineName: name,
        unit: 'ms',
        better: 'lower',
        target: '≤ 1.2×',
      },
      {
        bench: 'lanes',
        figure: 'events/s to one subscriber',
        ours: ours.eventsPerSec,
        baseline: base.eventsPerSec,
        baselineName: name,
        unit: 'ev/s',
        better: 'higher',
      },
      {
        bench: 'lanes',
        figure: 'heap per open stream',
        ours: ours.heapPerStreamBytes,
        baseline: base.heapPerStreamBytes,
        baselineName: name,
        unit: 'bytes',
        better: 'lower',
        target: '≤ 1.2×',
      },
      {
        bench: 'lanes',
        figure: 'resume: replay 1,000 events',
        ours: ours.resume1000Ms,
        baseline: Number.NaN,
        baselineName: 'absolute target',
        unit: 'ms',
        better: 'lower',
        target: '≤ 20 ms',
      },
    );
  }
}

if (want('messaging')) {
  const figs = await benchMessaging({
    pairs: quick ? 200 : 1000,
    rates: quick ? [1_000, 2_000] : [500, 1_000, 2_000, 3_000, 4_000, 6_000, 8_000, 10_000],
    seconds: quick ? 2 : 4,
    idle: quick ? 500 : 2000,
    log,
    ...(server ? { server } : {}),
  });
  raw.messaging = figs;
  const [base, ours] = figs;
  if (base && ours) {
    const name = base.server;
    const at = (f: typeof base, rate: number) => f.steps.find((s) => s.rate === rate);
    for (const rate of [1_000, 2_000]) {
      const o = at(ours, rate);
      const b = at(base, rate);
      if (o && b) {
        rows.push({
          bench: 'messaging',
          figure: `DM across 2 nodes p99 @${rate / 1000}k msg/s`,
          ours: o.p99,
          baseline: b.p99,
          baselineName: name,
          unit: 'ms',
          better: 'lower',
          target: '≤ 10 ms',
        });
        rows.push({
          bench: 'messaging',
          figure: `server CPU, both nodes @${rate / 1000}k msg/s`,
          ours: o.serverCpu,
          baseline: b.serverCpu,
          baselineName: name,
          unit: 'cores',
          better: 'lower',
        });
      }
    }
    rows.push(
      {
        bench: 'messaging',
        figure: 'DM capacity at p99 ≤ 10 ms (2 nodes, 1 core)',
        ours: ours.capacity,
        baseline: base.capacity,
        baselineName: name,
        unit: 'msg/s',
        better: 'higher',
        target: '≥ 1.5×',
      },
      {
        bench: 'messaging',
        figure: 'heap per idle connection',
        ours: ours.heapPerConnBytes,
        baseline: base.heapPerConnBytes,
        baselineName: name,
        unit: 'bytes',
        better: 'lower',
        target: '≤ 1×',
      },
      {
        bench: 'messaging',
        figure: `announcement: last of ${quick ? 200 : 1000} clients has it`,
        ours: ours.announceLastMs,
        baseline: base.announceLastMs,
        baselineName: name,
        unit: 'ms',
        better: 'lower',
        target: '≤ 1.2×',
      },
    );
  }
}

if (want('fanout')) {
  const dashboards = quick ? 2_000 : 10_000;
  const f = await benchRelayDuringFanout({
    pairs: 200,
    rate: 2_000,
    seconds: quick ? 3 : 5,
    dashboards,
    log,
  });
  raw.fanout = f;
  rows.push(
    {
      bench: 'fan-out',
      figure: `relay p99 @2k msg/s while metrics fan out to ${dashboards} dashboards every second`,
      ours: f.duringFanout.p99,
      baseline: f.quiet.p99,
      baselineName: 'the same relays, no fan-out',
      unit: 'ms',
      better: 'lower',
      target: '≤ 10 ms',
    },
    {
      bench: 'fan-out',
      figure: `metrics update: last of ${dashboards} dashboards has it (median)`,
      ours: f.fanoutLastMs,
      baseline: f.rawLastMs,
      baselineName: 'raw ws broadcast',
      unit: 'ms',
      better: 'lower',
      target: '≤ 1.2×',
    },
  );
}

if (want('pulse')) {
  const figs = await benchPulse({
    nodes: 20,
    subs: quick ? 20 : 100,
    rate: quick ? 200 : 500,
    seconds: quick ? 2 : 5,
    workers: 4,
    tasks: quick ? 500 : 2_000,
    log,
  });
  raw.pulse = figs;
  const [base, ours] = figs;
  if (base && ours) {
    const name = base.server;
    rows.push(
      {
        bench: 'pulse',
        figure: 'metrics deliveries/s to dashboards',
        ours: ours.deliveredPerSec,
        baseline: base.deliveredPerSec,
        baselineName: name,
        unit: '/s',
        better: 'higher',
      },
      {
        bench: 'pulse',
        figure: 'metrics update → dashboard p99',
        ours: ours.p99,
        baseline: base.p99,
        baselineName: name,
        unit: 'ms',
        better: 'lower',
      },
      {
        bench: 'pulse',
        figure: 'tasks/s submit → result (4 workers)',
        ours: ours.tasksPerSec ?? Number.NaN,
        baseline: Number.NaN,
        baselineName: 'none',
        unit: '/s',
        better: 'higher',
      },
    );
  }
}

let pinned = 'no (taskset missing)';
try {
  execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
  pinned = 'servers on core 0, load generator on core 1';
} catch {}
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${pinned}, server flags: ${NODE_FLAGS.join(' ') || 'none'}`;
const header = '| bench | figure | p3-realtime | baseline | ratio | target |\n|---|---|---|---|---|---|';
const fmt = (n: number) => (Math.abs(n) >= 100 ? String(Math.round(n)) : String(round(n, 2)));
const lines = rows.map((r) => {
  // an absolute target has no baseline: no ratio either
  if (!Number.isFinite(r.baseline)) {
    return `| ${r.bench} | ${r.figure} | ${fmt(r.ours)} ${r.unit} | — (${r.baselineName}) | — | ${r.target ?? ''} |`;
  }
  // a zero baseline (e.g. neither server met a capacity step) has no ratio
  const ratio = r.baseline ? `${round(r.ours / r.baseline, 2)}×` : '—';
  return `| ${r.bench} | ${r.figure} | ${fmt(r.ours)} ${r.unit} | ${fmt(r.baseline)} ${r.unit} (${r.baselineName}) | ${ratio} | ${r.target ?? ''} |`;
});
const table = `${header}\n${lines.join('\n')}`;
const when = new Date().toISOString();
process.stdout.write(`\n${machine}\n${when}${quick ? ' (quick)' : ''}\n\n${table}\n`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/latest.json', import.meta.url),
  JSON.stringify({ when, machine, quick, rows, raw }, null, 2),
);
writeFileSync(
  new URL('./results/latest.md', import.meta.url),
  `Measured ${when} on ${machine}${quick ? ' (quick run)' : ''}.\n\n${table}\n`,
);
// a full run refreshes the table in the README (between its bench markers)
if (!quick && only.length === 0 && !server) {
  const readmeUrl = new URL('../README.md', import.meta.url);
  const readme = readFileSync(readmeUrl, 'utf8');
  const start = readme.indexOf('<!-- bench:start -->');
  const end = readme.indexOf('<!-- bench:end -->');
  if (start >= 0 && end > start) {
    const body = `<!-- bench:start -->\nMeasured ${when} on ${machine}.\n\n${table}\n`;
    writeFileSync(readmeUrl, readme.slice(0, start) + body + readme.slice(end));
  }
}
process.exit(0);
