import type { PulseTopic } from '../../protocol/pulse.js';
import { FANOUT_SLICE_MS, SLICE } from '../limits/slices.js';
import type { Metrics } from '../observability/metrics.js';
import type { PulseSession } from './session.js';

export interface FanoutOptions {
  metrics: Metrics;
  /** Unsent bytes above which a subscriber gets coalesced metrics instead of every frame. */
  slowBytes: number;
  /** How often held-back metrics are retried. @default 25 */
  flushMs?: number;
}

/** Fan-outs that may wait for their turn before new ones are sent without yielding. */
export const MAX_QUEUED_FANOUTS = 256;

interface Job {
  topic: PulseTopic;
  /** Set for metrics (coalesced per node for slow subscribers). */
  nodeId: string | undefined;
  /** The frame, as UTF-8 bytes once it goes to more than one subscriber. */
  text: string | Buffer;
  /** The live subscriber set's iterator: a subscriber added meanwhile gets the frame too. */
  subs: Iterator<PulseSession>;
  cancelled: boolean;
  sent: number;
  /** Larger than a slice: sent in slices of FANOUT_SLICE_MS as well as of SLICE sends. */
  large: boolean;
}

/** A frame for many sockets is encoded to UTF-8 once, not once per socket by `ws`. */
const encodeFor = (text: string, subscribers: number): string | Buffer =>
  subscribers > 1 ? Buffer.from(text) : text;

/** A fan-out of `text` to the subscribers in `subs` (the live set: later ones get it too). */
const job = (topic: PulseTopic, nodeId: string | undefined, text: string, subs: Set<PulseSession>): Job => ({
  topic,
  nodeId,
  text: encodeFor(text, subs.size),
  subs: subs.values(),
  cancelled: false,
  sent: 0,
  large: subs.size > SLICE,
});

/**
 * Delivers frames to the subscribers of one server node. Every frame is serialised once by
 * the caller, encoded once here, and the same bytes go to every subscriber. Metrics are the hot path: a
 * subscriber whose socket has more than `slowBytes` unsent keeps only the newest frame per
 * node (a map bounded by the number of nodes) and gets it when its socket drains, so a
 * slow dashboard sees fresh numbers rather than a growing backlog. Registry and task frames
 * are never dropped (the endpoint's send-buffer cap drops a reader that stops reading).
 */
export class Fanout {
  readonly #subs: Record<PulseTopic, Set<PulseSession>> = {
    nodes: new Set(),
    metrics: new Set(),
    tasks: new Set(),
  };
  readonly #waiting = new Set<PulseSession>();
  /** Fan-outs larger than a slice, run one slice per event-loop turn, in order. */
  readonly #jobs: Job[] = [];
  #running = false;
  readonly #slowBytes: number;
  readonly #flushMs: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #coalesced;
  readonly #sent;

  constructor(options: FanoutOptions) {
    this.#slowBytes = options.slowBytes;
    this.#flushMs = options.flushMs ?? 25;
    const m = options.metrics;
    const subs = this.#subs;
    m.gauge('p3_pulse_subscriptions', 'Pulse subscriptions on this node by topic', ['topic'], function () {
      for (const t of Object.keys(subs) as PulseTopic[]) this.set({ topic: t }, subs[t].size);
    });
    const waiting = this.#waiting;
    m.gauge('p3_pulse_metrics_pending', 'Metrics frames held back for slow subscribers', [], function () {
      let n = 0;
      for (const s of waiting) n += s.pending.size;
      this.set(n);
    });
    const jobs = this.#jobs;
    m.gauge('p3_pulse_fanouts_queued', 'Fan-outs waiting for (or in) their turn', [], function () {
      this.set(jobs.length);
    });
    this.#coalesced = m.counter(
      'p3_pulse_metrics_coalesced_total',
      'Metrics frames replaced by a newer one before a slow subscriber could take them',
    );
    this.#sent = m.counter('p3_pulse_fanout_frames_total', 'Frames fanned out to subscribers by topic', [
      'topic',
    ]);
  }

  subscribe(s: PulseSession, topic: PulseTopic): void {
    s.topics.add(topic);
    this.#subs[topic].add(s);
  }

  unsubscribe(s: PulseSession, topic: PulseTopic): void {
    s.topics.delete(topic);
    this.#subs[topic].delete(s);
    if (topic === 'metrics') {
      s.pending.clear();
      this.#waiting.delete(s);
    }
  }

  drop(s: PulseSession): void {
    for (const t of [...s.topics]) this.unsubscribe(s, t);
  }

  count(topic: PulseTopic): number {
    return this.#subs[topic].size;
  }

  /** A frame every subscriber of `topic` must get, in order. */
  broadcast(topic: PulseTopic, text: string): void {
    const subs = this.#subs[topic];
    if (subs.size === 0) return;
    this.#run(job(topic, undefined, text, subs));
  }

  /**
   * A frame for one session, in order with the fan-outs already queued (a subscription's
   * snapshot: frames queued before it, which the new subscriber also gets, arrive first and
   * the snapshot, newer than all of them, last).
   */
  send(s: PulseSession, text: string): void {
    this.#run({
      topic: 'nodes',
      nodeId: undefined,
      text,
      subs: [s].values(),
      cancelled: false,
      sent: 0,
      large: false,
    });
  }

  /** The newest metrics of `nodeId`; slow subscribers keep only the latest per node. */
  metrics(nodeId: string, text: string): void {
    const subs = this.#subs.metrics;
    if (subs.size === 0) return;
    // a newer update of a node whose fan-out has not started yet replaces it
    for (const job of this.#jobs) {
      if (job.nodeId === nodeId && job.sent === 0 && !job.cancelled && job !== this.#jobs[0]) {
        job.text = encodeFor(text, subs.size);
        this.#coalesced.inc();
        return;
      }
    }
    this.#run(job('metrics', nodeId, text, subs));
  }

  /**
   * Runs a fan-out: at once when nothing is queued and it fits in one slice (the common
   * case, no latency added), else queued behind the others and sent a slice per
   * event-loop turn, so 10,000 dashboards do not hold up the frames of everyone else.
   * One job at a time, in order: every subscriber sees frames in the order they were sent.
   */
  #run(job: Job) {
    this.#jobs.push(job);
    // a drain is already scheduled: wait for it, unless the queue is past its bound (any
    // drain continues from the head of the queue, so running one now keeps the order)
    if (this.#running && this.#jobs.length <= MAX_QUEUED_FANOUTS) return;
    this.#running = true;
    this.#drain();
  }

  #drain() {
    // past the queue's bound, fan-outs go out at once (the loop waits, as it did before
    // slicing) instead of growing the queue: frames keep coming faster than they drain
    const bounded = this.#jobs.length <= MAX_QUEUED_FANOUTS;
    let budget = bounded ? SLICE : Number.POSITIVE_INFINITY;
    const start = performance.now();
    while (this.#jobs.length > 0) {
      const job = this.#jobs[0]!;
      for (;;) {
        if (job.cancelled) break;
        // a slice ends after SLICE sends, or within a large fan-out after FANOUT_SLICE_MS (the
        // clock is read every 16 sends, not before the first: a slice sends at least 16)
        const late =
          bounded &&
          job.large &&
          budget < SLICE &&
          (budget & 15) === 0 &&
          performance.now() - start >= FANOUT_SLICE_MS;
        if (budget-- <= 0 || late) {
          setImmediate(() => this.#drain());
          return;
        }
        const next = job.subs.next();
        if (next.done) break;
        try {
          this.#deliver(job, next.value);
        } catch {
          // one socket's failure must not stop the fan-out (or leave it marked running)
        }
      }
      this.#jobs.shift();
      if (job.sent > 0) this.#sent.inc({ topic: job.topic }, job.sent);
    }
    this.#running = false;
    if (this.#waiting.size > 0) this.#schedule();
  }

  #deliver(job: Job, s: PulseSession) {
    if (job.nodeId === undefined) {
      s.conn.sendText(job.text);
      job.sent++;
      return;
    }
    if (s.pending.size === 0 && s.conn.bufferedAmount <= this.#slowBytes) {
      s.conn.sendText(job.text);
      job.sent++;
      return;
    }
    if (s.pending.has(job.nodeId)) this.#coalesced.inc();
    s.pending.set(job.nodeId, job.text);
    this.#waiting.add(s);
    // its retry must not wait for the whole queue to drain
    this.#schedule();
  }

  /** A node left: its held-back metrics must not arrive after its node:left. */
  forgetNode(nodeId: string): void {
    // its queued metrics too (the one being sent stops where it is)
    for (const job of this.#jobs) if (job.nodeId === nodeId) job.cancelled = true;
    for (const s of this.#waiting) {
      s.pending.delete(nodeId);
      if (s.pending.size === 0) this.#waiting.delete(s);
    }
  }

  #schedule() {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, this.#flushMs);
    this.#timer.unref?.();
  }

  #flush() {
    for (const s of this.#waiting) {
      if (!s.conn.open) {
        s.pending.clear();
        this.#waiting.delete(s);
        continue;
      }
      if (s.conn.bufferedAmount > this.#slowBytes) continue;
      for (const text of s.pending.values()) s.conn.sendText(text);
      this.#sent.inc({ topic: 'metrics' }, s.pending.size);
      s.pending.clear();
      this.#waiting.delete(s);
    }
    if (this.#waiting.size > 0) this.#schedule();
  }

  close(): void {
    for (const job of this.#jobs) job.cancelled = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
  }
}
