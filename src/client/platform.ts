/**
 * The platform constructors the SDK uses, as structural types: browsers provide them as
 * globals; in Node (or tests) pass `ws`, `eventsource`, a fetch or a WebRTC implementation.
 * Only the members the SDK calls are listed, so small fakes satisfy them.
 */

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  onopen: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
}

export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** WebSocket readyState OPEN (the same in every implementation). */
export const WS_OPEN = 1;

function missing(name: string): never {
  throw new TypeError(
    `No global ${name}: pass one in the options (in Node: ${name === 'WebSocket' ? "import { WebSocket } from 'ws'" : name === 'EventSource' ? "import { EventSource } from 'eventsource'" : name})`,
  );
}

export function resolveWebSocket(given?: WebSocketConstructor): WebSocketConstructor {
  const ctor = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  return ctor ?? missing('WebSocket');
}

export function resolveEventSource(given?: EventSourceConstructor): EventSourceConstructor {
  const ctor = given ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  return ctor ?? missing('EventSource');
}

export function resolveFetch(given?: FetchLike): FetchLike {
  if (given) return given;
  if (typeof globalThis.fetch !== 'function') missing('fetch');
  // bound: calling an unbound window.fetch throws "Illegal invocation" in browsers
  return globalThis.fetch.bind(globalThis);
}

/** `http(s)://host/base` → `ws(s)://host/base/path`. */
export function toWsUrl(baseUrl: string, path: string): URL {
  const u = new URL(path.replace(/^\//, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  return u;
}

/** `http(s)://host/base` + `/v1/x` → absolute URL (keeps a base path, e.g. behind a proxy). */
export function httpUrl(baseUrl: string, path: string): URL {
  const u = new URL(path.replace(/^\//, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  return u;
}
