import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TURN_REALM = 'p3.test';

export interface Coturn {
  port: number;
  secret: string;
  /** TURN URLs for TURN_URLS / iceServers (UDP and TCP on loopback). */
  urls: string[];
  output(): string;
  stop(): Promise<void>;
}

/** A port free for both UDP and TCP on loopback (coturn listens on both). */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    if (ok) return port;
  }
  throw new Error('no free port for coturn');
}

/** coturn REST-API credentials (what p3 mints with TURN_SECRET): "<expiry>:<name>", HMAC-SHA1. */
function restCredentials(secret: string, name: string) {
  const username = `${Math.floor(Date.now() / 1000) + 600}:${name}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

/**
 * Starts Debian's coturn (`turnserver`) on a free loopback port with `use-auth-secret`
 * (the TURN REST API credentials p3 mints) and resolves once an Allocate with credentials
 * from `secret` succeeds: that proves the port is this coturn's (not another test's
 * instance, which would answer a plain STUN Binding just as well) and that its auth path
 * works. Each instance has its own state directory: coturn's defaults (the SQLite user
 * database /var/lib/turn/turndb, /var/run/turnserver.pid) would be shared by every
 * instance the parallel test files start. A port that does not come up is given up for another.
 */
export async function startCoturn(
  secret = randomBytes(16).toString('hex'),
  timeoutMs = 20_000,
): Promise<Coturn> {
  const problems: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = await startOnce(secret, timeoutMs);
    if ('port' in started) return started;
    problems.push(started.problem);
  }
  throw new Error(`coturn did not come up:\n${problems.join('\n---\n')}`);
}

async function startOnce(secret: string, timeoutMs: number): Promise<Coturn | { problem: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'p3-coturn-'));
  const proc: ChildProcess = spawn(
    'turnserver',
    [
      '-n',
      `--listening-port=${port}`,
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      '--allow-loopback-peers',
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      `--realm=${TURN_REALM}`,
      `--db=${join(dir, 'turndb')}`,
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--log-file=stdout',
      '--simple-log',
      // allocations and refusals in the log: what a failed browser test needs to be read
      '--verbose',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (d: Buffer) => {
    // bounded: the last 256 KB are what explains a failure
    out = (out + d).slice(-256 * 1024);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.once('error', (e) => {
      spawnError = e;
      resolve();
    });
  });
  const stop = async () => {
    if (!spawnError && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const probe = restCredentials(secret, 'readiness-probe');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) {
      rmSync(dir, { recursive: true, force: true });
      // no retry helps a missing binary (.ci/run installs Debian's coturn)
      throw new Error(`turnserver could not be started (${spawnError.message}); install coturn`);
    }
    if (proc.exitCode !== null) {
      await stop();
      return { problem: `turnserver on ${port} exited with ${proc.exitCode}:\n${out}` };
    }
    if (await stunBinding(port, 300)) {
      // no answer (not up yet) counts as a refusal: try again
      const verdict = await turnAllocate(port, probe.username, probe.credential).catch(
        (): AllocateResult => ({ ok: false }),
      );
      if (verdict.ok) break;
      // a fast refusal must not spin the loop
      await new Promise((r) => setTimeout(r, 100));
    }
    if (Date.now() > deadline) {
      await stop();
      return { problem: `turnserver on ${port} did not allocate in time:\n${out.slice(-4_000)}` };
    }
  }
  return {
    port,
    secret,
    urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`],
    output: () => out,
    stop,
  };
}

// ── a minimal STUN/TURN client (RFC 5389 / 5766) over UDP ────────────────────────────

const MAGIC = 0x2112a442;
const ATTR = {
  username: 0x0006,
  integrity: 0x0008,
  errorCode: 0x0009,
  realm: 0x0014,
  nonce: 0x0015,
  transport: 0x0019,
} as const;

function attr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

/** A STUN message; with `key`, MESSAGE-INTEGRITY (HMAC-SHA1) is appended last. */
function message(type: number, attrs: Buffer[], key?: Buffer): Buffer {
  const tid = randomBytes(12);
  const body = Buffer.concat(attrs);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(MAGIC, 4);
  tid.copy(header, 8);
  if (!key) {
    header.writeUInt16BE(body.length, 2);
    return Buffer.concat([header, body]);
  }
  // the length covers MESSAGE-INTEGRITY when the HMAC is computed (RFC 5389 §15.4)
  header.writeUInt16BE(body.length + 24, 2);
  const mac = createHmac('sha1', key)
    .update(Buffer.concat([header, body]))
    .digest();
  return Buffer.concat([header, body, attr(ATTR.integrity, mac)]);
}

function parse(buf: Buffer): { type: number; attrs: Map<number, Buffer> } {
  const attrs = new Map<number, Buffer>();
  let off = 20;
  while (off + 4 <= buf.length) {
    const t = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    attrs.set(t, buf.subarray(off + 4, off + 4 + len));
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return { type: buf.readUInt16BE(0), attrs };
}

/**
 * One UDP socket (one 5-tuple: coturn binds the nonce of its 401 challenge to it) that
 * sends requests to `port` and returns each answer, or null after `timeoutMs`.
 */
function udpSession(port: number) {
  const sock = createSocket('udp4');
  sock.on('error', () => {});
  const inbox: Buffer[] = [];
  let wake: (() => void) | undefined;
  sock.on('message', (m) => {
    inbox.push(m);
    wake?.();
  });
  return {
    async ask(msg: Buffer, timeoutMs: number): Promise<Buffer | null> {
      inbox.length = 0;
      sock.send(msg, port, '127.0.0.1');
      if (inbox.length === 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutMs);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      wake = undefined;
      return inbox.shift() ?? null;
    },
    close: () => sock.close(),
  };
}

/** true when a STUN Binding request on `port` is answered with a success response. */
export async function stunBinding(port: number, timeoutMs = 1_000): Promise<boolean> {
  const session = udpSession(port);
  try {
    const reply = await session.ask(message(0x0001, []), timeoutMs);
    return reply !== null && reply.readUInt16BE(0) === 0x0101;
  } finally {
    session.close();
  }
}

export interface AllocateResult {
  ok: boolean;
  /** The STUN error code of a refusal (401: bad credentials). */
  errorCode?: number;
}

/**
 * A TURN Allocate with long-term credentials: the first request gets 401 with the realm
 * and nonce, the second carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY keyed with
 * MD5(username:realm:password). Resolves with coturn's verdict.
 */
export async function turnAllocate(
  port: number,
  username: string,
  password: string,
): Promise<AllocateResult> {
  const session = udpSession(port);
  try {
    return await allocate(session, username, password);
  } finally {
    session.close();
  }
}

async function allocate(
  session: ReturnType<typeof udpSession>,
  username: string,
  password: string,
): Promise<AllocateResult> {
  const transport = attr(ATTR.transport, Buffer.from([17, 0, 0, 0]));
  const first = await session.ask(message(0x0003, [transport]), 3_000);
  if (!first) throw new Error('no answer to the first Allocate');
  const challenge = parse(first);
  const realm = challenge.attrs.get(ATTR.realm);
  const nonce = challenge.attrs.get(ATTR.nonce);
  if (!realm || !nonce) throw new Error(`Allocate challenge without realm/nonce (type ${challenge.type})`);
  const key = createHash('md5').update(`${username}:${realm.toString()}:${password}`).digest();
  const second = await session.ask(
    message(
      0x0003,
      [
        transport,
        attr(ATTR.username, Buffer.from(username)),
        attr(ATTR.realm, realm),
        attr(ATTR.nonce, nonce),
      ],
      key,
    ),
    3_000,
  );
  if (!second) throw new Error('no answer to the authenticated Allocate');
  const answer = parse(second);
  if (answer.type === 0x0103) return { ok: true };
  const err = answer.attrs.get(ATTR.errorCode);
  return { ok: false, ...(err ? { errorCode: (err[2]! & 0x07) * 100 + err[3]! } : {}) };
}
