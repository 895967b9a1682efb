import type { ServerResponse } from 'node:http';
import { formatMuxId, LaneControl, type LaneName, type LostEventData } from '../../protocol/lanes.js';
import { compareStreamIds } from '../engine/types.js';
import type { FeedSubscriber } from './feed.js';
import { type LaneEntry, type LanePage, laneFrame } from './history.js';

export type CloseReason = 'client' | 'slow' | 'buffer' | 'expired' | 'shutdown' | 'error';

/** The multiplexed form of an event: `event: <lane>`, data `{ type, data }`. */
const muxBody = (e: LaneEntry) =>
  (e.muxBody ??= `data: {"type":${JSON.stringify(e.type)},"data":${e.json}}\n\n`);

/**
 * One open SSE response: a single lane, or several lanes multiplexed (`mux`). It keeps the
 * position of each lane, buffers live events while a lane replays its history, and cuts
 * the connection when the client reads too slowly (it resumes with Last-Event-ID).
 */
export class LaneStream implements FeedSubscriber {
  readonly positions: Partial<Record<LaneName, string>> = {};
  lastWriteAt: number;
  closed = false;
  /** Live events held while a lane replays; lanes absent here are live. */
  /** Dropped once every lane is live: a live stream holds no map. */
  #pending: Map<LaneName, LanePage[]> | undefined = new Map();
  #pendingCount = 0;
  /** Bytes the replay was allowed past the cap (history is bounded; the live tail is not). */
  #allowance = 0;

  constructor(
    readonly res: ServerResponse,
    readonly lanes: LaneName[],
    readonly mux: boolean,
    private readonly limits: { sendBufferBytes: number; maxPending: number },
    private readonly now: () => number,
    private readonly onClose: (stream: LaneStream, reason: CloseReason) => void,
  ) {
    this.lastWriteAt = now();
    for (const lane of lanes) this.#pending?.set(lane, []);
  }

  /** The id of the stream as a whole: a lane's id, or every lane's for `mux`. */
  currentId(lane: LaneName = this.lanes[0]!): string {
    return this.mux ? formatMuxId(this.positions) : (this.positions[lane] ?? '0-0');
  }

  deliver(lane: LaneName, page: LanePage): void {
    if (this.closed) return;
    const pending = this.#pending?.get(lane);
    if (pending) {
      pending.push(page);
      this.#pendingCount += page.entries.length;
      if (this.#pendingCount > this.limits.maxPending) this.cut('buffer');
      return;
    }
    this.write(this.render(lane, page));
  }

  /** Renders the entries after the lane's position and advances it. */
  render(lane: LaneName, page: LanePage): string {
    const { entries } = page;
    if (entries.length === 0) return '';
    const pos = this.positions[lane] ?? '0-0';
    let start = 0;
    // the common case: the whole page is new (one comparison per page)
    if (compareStreamIds(entries[0]!.id, pos) <= 0) {
      while (start < entries.length && compareStreamIds(entries[start]!.id, pos) <= 0) start++;
    }
    if (start === entries.length) return '';
    let out = '';
    if (this.mux) {
      for (let i = start; i < entries.length; i++) {
        const e = entries[i]!;
        this.positions[lane] = e.id;
        out += `event: ${lane}\nid: ${formatMuxId(this.positions)}\n${muxBody(e)}`;
      }
    } else if (start === 0) {
      // rendered once per page on this node: every subscriber of the lane gets this string
      out = page.text ??= entries.map(laneFrame).join('');
      this.positions[lane] = entries.at(-1)!.id;
    } else {
      for (let i = start; i < entries.length; i++) out += laneFrame(entries[i]!);
      this.positions[lane] = entries.at(-1)!.id;
    }
    return out;
  }

  /** `lost` before a lane's replay: says which events are gone and moves the position past them. */
  renderLost(lost: LostEventData, position: string): string {
    this.positions[lost.lane] = position;
    return `event: ${LaneControl.lost}\nid: ${this.currentId(lost.lane)}\ndata: ${JSON.stringify(lost)}\n\n`;
  }

  /** Ends a lane's replay: flushes the live events held meanwhile, then the lane is live. */
  goLive(lane: LaneName): void {
    const pending = this.#pending?.get(lane);
    if (!pending) return;
    this.#pending?.delete(lane);
    if (this.#pending?.size === 0) this.#pending = undefined;
    this.#pendingCount -= pending.reduce((n, p) => n + p.entries.length, 0);
    let out = '';
    for (const page of pending) out += this.render(lane, page);
    if (out) this.write(out);
  }

  /**
   * Writes unless the client has fallen behind: when more than the send buffer cap is still
   * unsent, the connection is cut, so a reader that stops holds at most the cap plus one
   * page in this process. `replay` writes (bounded by the history) raise the limit until
   * they have drained, so a client catching up on a long replay is not mistaken for one.
   */
  write(text: string, replay = false): boolean {
    if (this.closed) return false;
    if (text === '') return true;
    const queued = this.res.writableLength;
    if (replay) {
      this.#allowance = Math.max(this.#allowance, queued + text.length);
    } else if (queued > this.limits.sendBufferBytes + this.#allowance) {
      this.cut('slow');
      return false;
    } else if (queued <= this.limits.sendBufferBytes) {
      this.#allowance = 0;
    }
    this.lastWriteAt = this.now();
    this.res.write(text);
    return true;
  }

  /** Waits until the client has read what was written (between replay pages). */
  async drained(): Promise<void> {
    if (this.closed || this.res.writableLength <= this.limits.sendBufferBytes) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Drops the connection at once (a slow or overflowing reader). */
  cut(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this, reason);
    this.res.destroy();
  }

  /** Ends the response after what was written (shutdown, token expiry). */
  end(reason: CloseReason, finalText = ''): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this, reason);
    this.res.end(finalText);
  }

  /** The client went away. */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this, 'client');
  }
}
