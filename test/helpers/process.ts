import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { TEST_DOMAIN, TEST_SECRET, TEST_SERVICE_KEY } from './server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  wsUrl: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Sends a signal and resolves with the exit code (or the signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Runs the real CLI (`src/cli.ts` through tsx) in its own process: for node crashes,
 * SIGKILL and graceful shutdown. Resolves once the server logs that it listens.
 */
export async function spawnServer(
  env: Record<string, string> = {},
  timeoutMs = 90_000,
): Promise<ServerProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      P3_SIWE_DOMAIN: TEST_DOMAIN,
      P3_AUTH_SECRET: TEST_SECRET,
      P3_SERVICE_KEY: TEST_SERVICE_KEY,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // a test that fails or times out must not leave its servers running
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start in time:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const m = /"port":(\d+)[^\n]*p3-realtime listening|p3-realtime listening[^\n]*"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] ?? m[2]));
      }
    };
    proc.stdout?.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode ?? 0;
      proc.kill(signal);
      const [code, sig] = (await once(proc, 'exit')) as [number | null, string | null];
      return code ?? sig ?? -1;
    },
  };
}

/** Runs the CLI to completion (for --help and config errors). */
export async function runCli(args: string[], env: Record<string, string> = {}) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => {
    stdout += d;
  });
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const [code] = (await once(proc, 'exit')) as [number];
  return { code, stdout, stderr };
}
