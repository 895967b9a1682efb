import { request } from 'node:http';
import { TEST_SERVICE_KEY, waitFor } from './server.js';

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

export async function createSession(url: string, token: string): Promise<string> {
  const res = await fetch(`${url}/v1/session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 201) throw new Error(`session: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { sid: string }).sid;
}

/** Publishes with the service key; returns the status and the parsed body. */
export async function publish(url: string, sid: string, lane: string, body: unknown, key = TEST_SERVICE_KEY) {
  const res = await fetch(`${url}/v1/session/${sid}/lane/${lane}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** Parses the SSE events of a byte stream (comments and `retry:` are counted, not kept). */
export class SseParser {
  readonly events: SseEvent[] = [];
  comments = 0;
  retry: number | undefined;
  #buf = '';
  feed(chunk: string) {
    this.#buf += chunk;
    for (let i = this.#buf.indexOf('\n\n'); i >= 0; i = this.#buf.indexOf('\n\n')) {
      const block = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments++;
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
        else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
      }
      if (data.length > 0) this.events.push({ event, id, data: data.join('\n') });
    }
  }
  /** The id of the last event that carried one (what a browser would send back). */
  lastId(): string | undefined {
    for (let i = this.events.length - 1; i >= 0; i--)
      if (this.events[i]!.id !== undefined) return this.events[i]!.id;
    return undefined;
  }
}

export interface RawStream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  parser: SseParser;
  /** The body of a non-200 answer. */
  body(): string;
  ended: Promise<'end' | 'error'>;
  /** Stops reading from the socket (the kernel buffers fill, then the server's). */
  pause(): void;
  resume(): void;
  close(): void;
  waitForEvents(n: number, timeoutMs?: number): Promise<SseEvent[]>;
}

/** A raw HTTP SSE reader: sees status, headers and exact bytes, and can stop reading. */
export function openStream(
  url: string,
  path: string,
  options: { token?: string; lastEventId?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<RawStream> {
  const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: options.method ?? 'GET', headers }, (res) => {
      const parser = new SseParser();
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (res.statusCode === 200) parser.feed(d);
        else raw += d;
      });
      const ended = new Promise<'end' | 'error'>((done) => {
        res.on('end', () => done('end'));
        res.on('error', () => done('error'));
        res.on('close', () => done(res.complete ? 'end' : 'error'));
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        parser,
        body: () => raw,
        ended,
        pause: () => res.pause(),
        resume: () => res.resume(),
        close: () => req.destroy(),
        waitForEvents: (n, timeoutMs = 15_000) =>
          waitFor(() => (parser.events.length >= n ? parser.events : undefined), {
            timeoutMs,
            what: `${n} events`,
          }),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The data of an event stream's events of one type, parsed. */
export const dataOf = (events: SseEvent[], type: string) =>
  events.filter((e) => e.event === type).map((e) => JSON.parse(e.data) as any);
