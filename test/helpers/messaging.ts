import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/protocol/messaging.js';
import { waitFor } from './server.js';
import { signIn } from './siwe.js';

export type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface User {
  token: string;
  address: `0x${string}`;
}

/** Signs a fresh wallet in on `baseUrl` (tokens are valid on every node sharing the secret). */
export async function newUser(baseUrl: string): Promise<User> {
  const { token, address } = await signIn(baseUrl);
  return { token, address };
}

/** A connected Socket.IO client; rejects with the connect_error. */
export async function connect(
  baseUrl: string,
  token: string | undefined,
  opts: Partial<ManagerOptions & SocketOptions> = {},
  /** Runs before the handshake: attach listeners here for events sent right on connect (the inbox). */
  setup?: (socket: Client) => void,
): Promise<Client> {
  const socket: Client = io(baseUrl, {
    path: '/socket.io',
    auth: token === undefined ? {} : { token },
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
    ...opts,
    autoConnect: false,
  });
  setup?.(socket);
  socket.connect();
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (e) => {
      socket.close();
      reject(e);
    });
  });
  return socket;
}

/** Records every payload of `event` from now on. */
export function record<E extends keyof ServerToClientEvents>(
  socket: Client,
  event: E,
): Parameters<ServerToClientEvents[E]>[0][] {
  const got: Parameters<ServerToClientEvents[E]>[0][] = [];
  (socket as unknown as { on(e: string, l: (p: unknown) => void): void }).on(event, (p) => {
    got.push(p as Parameters<ServerToClientEvents[E]>[0]);
  });
  return got;
}

/** Emits with an ack and resolves with the answer (any payload: for bad-input tests too). */
export function call(socket: Client, event: string, payload: unknown, timeoutMs = 10_000): Promise<any> {
  return (socket as unknown as Socket).timeout(timeoutMs).emitWithAck(event, payload);
}

/** Resolves once `list` holds at least `n` items. */
export async function atLeast<T>(list: T[], n: number, what = 'events', timeoutMs = 15_000): Promise<T[]> {
  await waitFor(() => list.length >= n, { timeoutMs, what: `${n} ${what} (have ${list.length})` });
  return list;
}

/** The next `event` that satisfies `pred`. */
export function next<E extends keyof ServerToClientEvents>(
  socket: Client,
  event: E,
  pred: (p: Parameters<ServerToClientEvents[E]>[0]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  const s = socket as unknown as {
    on(e: string, l: (p: any) => void): void;
    off(e: string, l: (p: any) => void): void;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.off(event, on);
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
    const on = (p: Parameters<ServerToClientEvents[E]>[0]) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      s.off(event, on);
      resolve(p);
    };
    s.on(event, on);
  });
}

/** `n` fresh users signed in on `baseUrl`. */
export function newUsers(baseUrl: string, n: 2): Promise<[User, User]>;
export function newUsers(baseUrl: string, n: 3): Promise<[User, User, User]>;
export function newUsers(baseUrl: string, n: 4): Promise<[User, User, User, User]>;
export function newUsers(baseUrl: string, n: number): Promise<User[]> {
  return Promise.all(Array.from({ length: n }, () => newUser(baseUrl)));
}

/**
 * `caller` rings `callee` (a device of `to`) in `roomId` and the callee accepts: an active
 * call. Throws if the invite or the accept is refused.
 */
/** `caller` invites `to` to an audio call in `roomId`; resolves once `callee` (a device of `to`) rings. */
export async function ringingCall(caller: Client, callee: Client, to: `0x${string}`, roomId: string) {
  const ring = next(callee, 'call:incoming');
  const invited = await call(caller, 'call:invite', { to, roomId, media: 'audio' });
  if (!invited.ok) throw new Error(`invite refused: ${JSON.stringify(invited)}`);
  await ring;
  return invited;
}

export async function answeredCall(caller: Client, callee: Client, to: `0x${string}`, roomId: string) {
  await ringingCall(caller, callee, to, roomId);
  const accepted = await call(callee, 'call:accepted', { roomId });
  if (!accepted.ok) throw new Error(`accept refused: ${JSON.stringify(accepted)}`);
}

export function closeAll(...sockets: (Client | undefined)[]) {
  for (const s of sockets) s?.close();
}

/** Drops the client's transport, as a network cut would; resolves with the disconnect reason. */
export async function dropTransport(socket: Client): Promise<string> {
  const gone = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
  (socket.io.engine as unknown as { close(): void }).close();
  return gone;
}

/** Connects the client again; resolves with whether Socket.IO recovered its session. */
export function reconnect(socket: Client): Promise<boolean> {
  const back = new Promise<boolean>((resolve) => socket.once('connect', () => resolve(socket.recovered)));
  socket.connect();
  return back;
}

/** The session id and offset a recovering client presents. */
export function sessionOf(socket: Client): { pid: string; offset: string } {
  const { _pid: pid, _lastOffset: offset } = socket as unknown as { _pid: string; _lastOffset: string };
  return { pid, offset };
}
