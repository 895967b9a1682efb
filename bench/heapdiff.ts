// Where an idle connection's heap goes: opens N idle connections to one bench server,
// takes a heap snapshot before and after, and prints the object kinds that grew, per
// connection. `npx tsx bench/heapdiff.ts <signaling|messaging> <server> [N]`, server one of
// p3, ws-relay, peerjs (signaling) or p3, stock (messaging). Build first (`npx tsc -p
// tsconfig.build.json`): the p3 server runs from dist/ as in the bench.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAddress } from 'viem';
import { createTokenService } from '../src/server/auth/tokens.js';
import { startBenchServer } from './lib/server-process.js';
import { MiniSio } from './lib/sioclient.js';
import { MiniWs } from './lib/wsclient.js';
import { WARM_CONNECTIONS } from './signaling.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';
const [surface = 'messaging', which = 'p3', nArg = '2000'] = process.argv.slice(2);
const n = Number(nArg);
const tokens = createTokenService({ secret: SECRET, ttlSec: 3600 });
const address = () => getAddress(`0x${randomBytes(20).toString('hex')}`);

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Tally {
  /** Self bytes and count per "type:name". */
  kinds: Map<string, { bytes: number; count: number }>;
  /** Node ids, to tell the objects a connection added. */
  ids: Set<number>;
}

const kindOf = (type: string, name: string) =>
  type.includes('string')
    ? `${type}:`
    : `${type}:${type === 'code' || type === 'hidden' ? name.slice(0, 40) : name}`;

/**
 * Reads a snapshot. With `known` (the ids of an earlier snapshot), also groups the objects
 * that are new since then by what holds them ("holder kind .edge → kind").
 */
function read(
  path: string,
  known?: Set<number>,
): Tally & { holders: Map<string, { bytes: number; count: number }> } {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const ef = s.snapshot.meta.edge_fields;
  const etypes = s.snapshot.meta.edge_types[0];
  const width = f.length;
  const ew = ef.length;
  const [ti, ni, si, ii, ci] = ['type', 'name', 'self_size', 'id', 'edge_count'].map((k) => f.indexOf(k)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const [eti, eni, eto] = ['type', 'name_or_index', 'to_node'].map((k) => ef.indexOf(k)) as [
    number,
    number,
    number,
  ];
  const kinds = new Map<string, { bytes: number; count: number }>();
  const holders = new Map<string, { bytes: number; count: number }>();
  const ids = new Set<number>();
  const add = (m: typeof kinds, k: string, bytes: number) => {
    const e = m.get(k) ?? { bytes: 0, count: 0 };
    e.bytes += bytes;
    e.count++;
    m.set(k, e);
  };
  const kind = (n: number) => kindOf(types[s.nodes[n + ti]!]!, s.strings[s.nodes[n + ni]!]!);
  const holderOf = new Map<number, string>();
  let e = 0;
  for (let n = 0; n < s.nodes.length; n += width) {
    ids.add(s.nodes[n + ii]!);
    add(kinds, kind(n), s.nodes[n + si]!);
    const count = s.nodes[n + ci]!;
    if (known) {
      for (let k = 0; k < count; k++, e += ew) {
        const et = etypes[s.edges[e + eti]!]!;
        if (et === 'weak' || et === 'shortcut') continue;
        const to = s.edges[e + eto]!;
        if (holderOf.has(to)) continue;
        const nm =
          et === 'element' || et === 'hidden' ? `[${s.edges[e + eni]}]` : s.strings[s.edges[e + eni]!];
        holderOf.set(to, `${kind(n)} .${et === 'element' ? '[]' : nm}`);
      }
    } else e += count * ew;
  }
  if (known) {
    for (let n = 0; n < s.nodes.length; n += width) {
      if (known.has(s.nodes[n + ii]!)) continue;
      add(holders, `${holderOf.get(n) ?? '(root)'} → ${kind(n)}`, s.nodes[n + si]!);
    }
  }
  return { kinds, ids, holders };
}

const modules: Record<string, string> = {
  p3: 'p3.ts',
  'ws-relay': 'ws-relay.ts',
  peerjs: 'peerjs.ts',
  stock: 'socketio-stock.ts',
};
const env = {
  P3_AUTH_SECRET: SECRET,
  P3_MAX_PENDING_PER_IP: '1000000',
  P3_MAX_CONNECTIONS_PER_ADDRESS: '100000',
  ...(surface === 'messaging'
    ? { REDIS_URL: 'redis://127.0.0.1:6379', BENCH_REDIS_URL: 'redis://127.0.0.1:6379' }
    : {}),
};
const server = await startBenchServer(which, modules[which] ?? 'p3.ts', env);

async function open(i: number): Promise<{ close(): void }> {
  if (surface === 'messaging') {
    const id = address();
    return which === 'p3'
      ? MiniSio.open(server.port, { token: (await tokens.issue(id)).token })
      : MiniSio.open(server.port, { id });
  }
  const path =
    which === 'p3'
      ? `/signaling?token=${(await tokens.issue(address())).token}`
      : which === 'peerjs'
        ? `/peerjs?key=peerjs&id=idle${i}&token=t`
        : `/?pair=idle${i}`;
  const ws = await MiniWs.open(server.port, path);
  if (which !== 'ws-relay') {
    const ready = which === 'p3' ? '"auth_ok"' : '"OPEN"';
    await new Promise<void>((resolve) => {
      ws.onText = (t) => {
        if (t.includes(ready)) resolve();
      };
    });
  }
  return ws;
}

try {
  const warm: { close(): void }[] = [];
  for (let i = 0; i < Number(process.env.HEAPDIFF_WARM ?? WARM_CONNECTIONS); i += 50) {
    warm.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => open(900_000 + i + j)))));
  }
  for (const w of warm) w.close();
  await new Promise((r) => setTimeout(r, 500));
  const before = join(tmpdir(), `heapdiff-${process.pid}-0.heapsnapshot`);
  const after = join(tmpdir(), `heapdiff-${process.pid}-1.heapsnapshot`);
  const heap0 = await server.snapshot(before);
  const conns: { close(): void }[] = [];
  for (let i = 0; i < n; i += 50) {
    conns.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => open(i + j)))));
  }
  await new Promise((r) => setTimeout(r, 500));
  const heap1 = await server.snapshot(after);
  for (const c of conns) c.close();
  const a = read(before);
  const b = read(after, a.ids);
  const rows: [string, number, number][] = [];
  let total = 0;
  for (const [k, v] of b.kinds) {
    const w = a.kinds.get(k) ?? { bytes: 0, count: 0 };
    const d = v.bytes - w.bytes;
    total += d;
    if (Math.abs(d) / n >= 8) rows.push([k, d / n, (v.count - w.count) / n]);
  }
  for (const [k, w] of a.kinds) if (!b.kinds.has(k)) total -= w.bytes;
  const print = (list: [string, number, number][]) => {
    list.sort((x, y) => y[1] - x[1]);
    for (const [k, bytes, count] of list) {
      console.log(`${bytes.toFixed(0).padStart(7)} B ${count.toFixed(2).padStart(6)}×  ${k}`);
    }
  };
  console.log(
    `${surface} ${which}: ${(total / n).toFixed(0)} bytes per connection (snapshot self sizes), ${((heap1 - heap0) / n).toFixed(0)} of heap used`,
  );
  print(rows);
  console.log('\nnew objects by holder (holder .edge → object), per connection:');
  print(
    [...b.holders]
      .filter(([, v]) => v.bytes / n >= 8)
      .map(([k, v]) => [k, v.bytes / n, v.count / n] as [string, number, number]),
  );
  if (process.env.HEAPDIFF_KEEP) console.log(`snapshots kept: ${before} ${after}`);
  else {
    rmSync(before);
    rmSync(after);
  }
} finally {
  await server.stop();
}
