import { PulsePaths, type PulseServerFrame } from '../../protocol/pulse.js';
import type { ReconnectPolicy } from '../backoff.js';
import { ClientError } from '../errors.js';
import { onTokenRefresh, resolveToken, type TokenSource } from '../http.js';
import { toWsUrl, type WebSocketConstructor } from '../platform.js';
import { createReconnectingSocket, type HandshakeLink, type ReconnectingSocket } from '../socket.js';

export interface PulseConnectionOptions {
  url: string;
  token: TokenSource;
  /** @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /** @default 1, 2, 4, 8, 16 s with full jitter */
  reconnectPolicy?: ReconnectPolicy;
  /** Client heartbeat (`ping`); see createReconnectingSocket. @default every 30 s, 10 s timeout */
  heartbeat?: { intervalMs?: number; timeoutMs?: number } | false;
}

export type PulseFrame = PulseServerFrame;

export const parsePulse = (text: string): PulseFrame | undefined => {
  try {
    const f = JSON.parse(text) as PulseFrame;
    return typeof f === 'object' && f !== null && typeof f.type === 'string' ? f : undefined;
  } catch {
    return undefined;
  }
};

/** Sends `{ type, data }` and waits for the first frame of one of `types` (an `error` fails it). */
export async function exchange(link: HandshakeLink, frame: { type: string; data: unknown }, types: string[]) {
  link.send(JSON.stringify(frame));
  const answer = parsePulse(
    await link.waitFor((d) => {
      const f = parsePulse(d);
      return f !== undefined && (types.includes(f.type) || f.type === 'error');
    }),
  )!;
  if (answer.type === 'error') throw ClientError.from(answer.data);
  return answer;
}

/**
 * The Pulse socket (§6) both helpers share: authenticates with a first frame on every
 * connection (the token stays out of URLs and logs), then runs the role's own handshake
 * (register, subscribe) before queued frames go out.
 */
export function openPulseSocket(
  options: PulseConnectionOptions,
  afterAuth: (link: HandshakeLink) => Promise<void>,
  onFatal: (error: ClientError) => void,
): ReconnectingSocket {
  const socket = createReconnectingSocket({
    url: toWsUrl(options.url, PulsePaths.stream),
    autoConnect: false,
    WebSocket: options.WebSocket,
    reconnectPolicy: options.reconnectPolicy,
    heartbeat: options.heartbeat,
    async onOpen(link) {
      try {
        await exchange(link, { type: 'auth', data: { token: await resolveToken(options.token) } }, [
          'auth_ok',
        ]);
      } catch (error) {
        // a fixed token the server refused will not improve by retrying
        if (
          error instanceof ClientError &&
          error.code === 'auth_failed' &&
          typeof options.token === 'string'
        ) {
          onFatal(error);
        }
        throw error;
      }
      await afterAuth(link);
    },
  });
  const off = onTokenRefresh(options.token, (token) => {
    if (socket.state === 'open') socket.send(JSON.stringify({ type: 'auth', data: { token } }));
  });
  socket.on('state', ({ to }) => to === 'closed' && off());
  return socket;
}
