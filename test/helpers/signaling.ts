import type { PrivateKeyAccount } from 'viem/accounts';
import { WebSocket } from 'ws';
import { signIn } from './siwe.js';

export type Frame = Record<string, any> & { type: string };
type Match = string | ((f: Frame) => boolean);

/** A real `ws` client of /signaling that records every frame for tests to wait on. */
export interface SignalingClient {
  ws: WebSocket;
  /** Every frame received, in order. */
  frames: Frame[];
  peerId: string;
  address: string;
  token: string;
  send(frame: unknown): void;
  sendRaw(data: string | Buffer): void;
  /** The first frame not yet taken that matches (by type or predicate), waiting for it. */
  next(match: Match, timeoutMs?: number): Promise<Frame>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  isOpen(): boolean;
  close(): Promise<void>;
}

export function openSignaling(
  wsUrl: string,
  options: { token?: string; headers?: Record<string, string> } = {},
): SignalingClient {
  const url = `${wsUrl}/signaling${options.token ? `?token=${encodeURIComponent(options.token)}` : ''}`;
  const ws = new WebSocket(url, { headers: options.headers ?? {} });
  const frames: Frame[] = [];
  const taken = new Set<number>();
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    try {
      frames.push(JSON.parse(String(data)) as Frame);
    } catch {
      frames.push({ type: '__unparsable__', raw: String(data) });
    }
    for (const w of [...waiters]) w();
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: String(reason) });
      for (const w of [...waiters]) w();
    });
  });
  const matches = (m: Match, f: Frame) => (typeof m === 'string' ? f.type === m : m(f));
  const client: SignalingClient = {
    ws,
    frames,
    peerId: '',
    address: '',
    token: options.token ?? '',
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (data) => ws.send(data),
    next(match, timeoutMs = 10_000) {
      return new Promise<Frame>((resolve, reject) => {
        const check = () => {
          for (let i = 0; i < frames.length; i++) {
            if (!taken.has(i) && matches(match, frames[i]!)) {
              taken.add(i);
              done();
              resolve(frames[i]!);
              return;
            }
          }
          if (ws.readyState === WebSocket.CLOSED) {
            done();
            reject(
              new Error(`socket closed while waiting for ${String(match)}; got ${JSON.stringify(frames)}`),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`timed out waiting for ${String(match)}; got ${JSON.stringify(frames).slice(0, 2000)}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    closed,
    isOpen: () => ws.readyState === WebSocket.OPEN,
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await closed;
    },
  };
  return client;
}

/** Waits for the socket to open (rejects if the upgrade is refused). */
export function opened(c: SignalingClient): Promise<void> {
  if (c.ws.readyState === WebSocket.OPEN) return Promise.resolve();
  return new Promise((resolve, reject) => {
    c.ws.once('open', () => resolve());
    c.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    c.ws.once('error', reject);
  });
}

/** Signs in a (new) account and opens an authenticated signaling socket with the auth frame. */
export async function connectPeer(
  server: { url: string; wsUrl: string },
  options: { account?: PrivateKeyAccount; token?: string; viaQuery?: boolean } = {},
): Promise<SignalingClient> {
  const token = options.token ?? (await signIn(server.url, options.account)).token;
  const c = openSignaling(server.wsUrl, options.viaQuery ? { token } : {});
  await opened(c);
  if (!options.viaQuery) c.send({ type: 'auth', token });
  const ok = await c.next('auth_ok');
  c.peerId = ok.peerId;
  c.address = ok.address;
  c.token = token;
  return c;
}

/** Joins a room and returns the `joined` frame. */
export async function join(c: SignalingClient, roomId: string): Promise<Frame> {
  c.send({ type: 'join', roomId });
  return c.next((f) => (f.type === 'joined' && f.roomId === roomId) || f.type === 'error');
}
