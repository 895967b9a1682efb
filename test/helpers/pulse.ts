import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { TEST_SERVICE_KEY, type TestServer } from './server.js';
import { newAccount } from './siwe.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type Frame = { type: string; data?: any };

/** Short timings so liveness tests finish in about a second. */
export const PULSE_TIMINGS = { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1000 } as const;

/**
 * A real `ws` client on /pulse/stream that records every frame, so a test can wait for
 * a frame (seen already or still to come) instead of sleeping.
 */
export class PulseClient {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  #listeners = new Set<() => void>();
  closed: { code: number; reason: string } | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const l of [...this.#listeners]) l();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const l of [...this.#listeners]) l();
    });
  }

  /** Opens a socket (with `?token=` when given) and waits for it to open. */
  static async open(wsUrl: string, token?: string): Promise<PulseClient> {
    const url = `${wsUrl}/pulse/stream${token ? `?token=${encodeURIComponent(token)}` : ''}`;
    const ws = new WebSocket(url);
    const client = new PulseClient(ws);
    await once(ws, 'open');
    if (token) await client.next('auth_ok', () => true, 0);
    return client;
  }

  send(type: string, data?: unknown): void {
    this.ws.send(JSON.stringify(data === undefined ? { type } : { type, data }));
  }

  sendRaw(text: string | Buffer): void {
    this.ws.send(text);
  }

  /** The first frame (from `from` on) that matches; waits for it if needed. */
  async waitFor(match: (f: Frame) => boolean, { from = 0, timeoutMs = 10_000, what = 'frame' } = {}) {
    const find = () => this.frames.slice(from).find(match);
    const found = find();
    if (found) return found;
    return new Promise<Frame>((resolve, reject) => {
      const listener = () => {
        const f = find();
        if (f) {
          done();
          resolve(f);
        } else if (this.closed) {
          done();
          reject(new Error(`socket closed (${this.closed.code}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      this.#listeners.add(listener);
    });
  }

  /** The next frame of `type` received after this call (or after index `from`). */
  next(type: string, match: (f: Frame) => boolean = () => true, from = this.frames.length) {
    return this.waitFor((f) => f.type === type && match(f), { from, what: type });
  }

  /** Sends a frame and waits for the first frame of `type` that follows it. */
  async request(type: string, data: unknown, answer: string, match?: (f: Frame) => boolean) {
    const from = this.frames.length;
    this.send(type, data);
    return this.next(answer, match, from);
  }

  /** Frames of `type` (and matching) received so far. */
  all(type: string, match: (f: Frame) => boolean = () => true): Frame[] {
    return this.frames.filter((f) => f.type === type && match(f));
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = once(this.ws, 'close');
    this.ws.close();
    await closed;
  }
}

/** A token for a fresh address, minted by the server (every node shares the secret). */
export async function tokenFor(t: TestServer, address = newAccount().address): Promise<string> {
  return (await t.server.auth.tokens.issue(address)).token;
}

/** A node: connects, registers and waits for `registered`. */
export async function openNode(
  wsUrl: string,
  token: string,
  register: { nodeId: string; capabilities: string[]; maxTasks?: number; region?: string },
): Promise<PulseClient> {
  const c = await PulseClient.open(wsUrl, token);
  await c.request('register', register, 'registered');
  return c;
}

export async function submitTask(
  url: string,
  body: Record<string, unknown>,
  key = TEST_SERVICE_KEY,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/v1/pulse/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

export async function getTask(url: string, taskId: string, key = TEST_SERVICE_KEY) {
  const res = await fetch(`${url}/v1/pulse/tasks/${encodeURIComponent(taskId)}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: res.status, body: (await res.json()) as any };
}

// A pulse node in its own process (a plain `ws` client), so a test can SIGKILL it.
const WORKER = `
import { WebSocket } from 'ws';
const [url, token, nodeId, caps] = process.argv.slice(1);
const ws = new WebSocket(url + '/pulse/stream?token=' + encodeURIComponent(token));
ws.on('message', (d) => {
  const f = JSON.parse(d.toString());
  if (f.type === 'auth_ok') ws.send(JSON.stringify({ type: 'register', data: { nodeId, capabilities: caps.split(',') } }));
  if (f.type === 'registered') ws.send(JSON.stringify({ type: 'metrics', data: { cpu: 0.5, memory: 128 } }));
  process.stdout.write(JSON.stringify(f) + '\\n');
});
setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), 200);
`;

export interface WorkerProcess {
  proc: ChildProcess;
  output(): string;
  /** Resolves once the worker printed a frame of this type. */
  waitFor(type: string, timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** Starts a node process that registers, sends one metrics frame and takes tasks without answering. */
export function spawnWorker(wsUrl: string, token: string, nodeId: string, caps: string[]): WorkerProcess {
  const proc = spawn(
    process.execPath,
    ['--input-type=module', '-e', WORKER, wsUrl, token, nodeId, caps.join(',')],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  return {
    proc,
    output: () => out,
    waitFor(type, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (out.includes(`"type":"${type}"`)) {
            clearInterval(timer);
            clearTimeout(deadline);
            resolve();
          }
        };
        const timer = setInterval(check, 10);
        const deadline = setTimeout(() => {
          clearInterval(timer);
          reject(new Error(`worker never got ${type}:\n${out}`));
        }, timeoutMs);
        check();
      });
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
