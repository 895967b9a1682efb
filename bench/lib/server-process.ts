import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './stats.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Node flags of every bench server, baselines included, so ratios compare code, not flags:
 * the flags `npm start` uses (BENCH_NODE_FLAGS overrides, e.g. '' for Node's defaults).
 */
export const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=64')
  .split(' ')
  .filter(Boolean);

export interface BenchServer {
  name: string;
  port: number;
  proc: ChildProcess;
  /** Heap used after a full GC, in bytes. */
  heap(): Promise<number>;
  /** Writes a heap snapshot (after a full GC) to `path`; resolves to the heap used then. */
  snapshot(path: string): Promise<number>;
  cpu(): number;
  stop(): Promise<void>;
}

/**
 * Forks a bench server module (bench/servers/*.ts) with --expose-gc, pinned to one core
 * (taskset), and waits for it to report its port over IPC.
 */
export async function startBenchServer(
  name: string,
  module: string,
  env: Record<string, string> = {},
  opts: { core?: number; nodeArgs?: string[] } = {},
): Promise<BenchServer> {
  const proc = fork(`${root}/bench/servers/${module}`, [], {
    cwd: root,
    execArgv: ['--expose-gc', ...NODE_FLAGS, '--import', 'tsx', ...(opts.nodeArgs ?? [])],
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (opts.core !== undefined) {
    try {
      execFileSync('taskset', ['-pc', String(opts.core), String(proc.pid)], { stdio: 'ignore' });
    } catch {
      // taskset missing: measure unpinned (the table says so)
    }
  }
  const [msg] = (await Promise.race([
    once(proc, 'message'),
    once(proc, 'exit').then(([code]) => {
      throw new Error(`${name} exited with ${code} before listening`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${name} did not start`)), 30_000)),
  ])) as [{ port: number }];
  let seq = 0;
  return {
    name,
    port: msg.port,
    proc,
    async heap() {
      const id = ++seq;
      proc.send({ cmd: 'heap', id });
      for (;;) {
        const [m] = (await once(proc, 'message')) as [{ id?: number; heap?: number }];
        if (m.id === id) return m.heap ?? Number.NaN;
      }
    },
    async snapshot(path: string) {
      const id = ++seq;
      proc.send({ cmd: 'snapshot', id, path });
      for (;;) {
        const [m] = (await once(proc, 'message')) as [{ id?: number; heap?: number }];
        if (m.id === id) return m.heap ?? Number.NaN;
      }
    },
    cpu: () => cpuSeconds(proc.pid ?? 0),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      // SIGTERM first: a server run with --cpu-prof writes its profile on a clean exit
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      // a p3 server closes gracefully first (its presence entries leave with it)
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Called by a bench server module once it listens: reports the port and serves heap queries. */
export function serveBenchIpc(port: number, close?: () => Promise<void>): void {
  // a clean exit on SIGTERM lets --cpu-prof write its profile (baselines too); a server with
  // a graceful close runs it first, so that it leaves nothing behind in the shared Redis for
  // the next run to clean up (a messaging node's presence, which a survivor would settle
  // user by user in the middle of that run's measurements)
  process.on('SIGTERM', () => {
    // at most 3 s: a close that hangs (Redis gone) must not cost the profile or the run
    const closed = (close?.() ?? Promise.resolve()).catch(() => {});
    void Promise.race([closed, new Promise((r) => setTimeout(r, 3_000))]).finally(() => process.exit(0));
  });
  process.on('message', (m: { cmd?: string; id?: number; path?: string }) => {
    if (m.cmd === 'snapshot' && m.path) {
      // a heap snapshot for bench/heapdiff.ts (where an idle connection's bytes go)
      (globalThis as { gc?: () => void }).gc?.();
      void import('node:v8').then((v8) => {
        v8.writeHeapSnapshot(m.path);
        process.send?.({ id: m.id, heap: process.memoryUsage().heapUsed });
      });
    } else if (m.cmd === 'heap') {
      const g = (globalThis as { gc?: () => void }).gc;
      g?.();
      g?.();
      process.send?.({ id: m.id, heap: process.memoryUsage().heapUsed });
    }
  });
  process.send?.({ port });
}
