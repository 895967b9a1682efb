import type { PulseTopic } from '../../protocol/pulse.js';
import type { Metrics } from '../observability/metrics.js';
import type { PulseSession } from './session.js';

export interface FanoutOptions {
  metrics: Metrics;
  /** Unsent bytes above which a subscriber gets coalesced metrics instead of every frame. */
  slowBytes: number;
  /** How often held-back metrics are retried. @default 25 */
  flushMs?: number;
}

/**
 * Delivers frames to the subscribers of one server node. Every frame is serialised once by
 * the caller and the same string goes to every subscriber. Metrics are the hot path: a
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
    for (const s of subs) s.conn.sendText(text);
    this.#sent.inc({ topic }, subs.size);
  }

  /** The newest metrics of `nodeId`; slow subscribers keep only the latest per node. */
  metrics(nodeId: string, text: string): void {
    const subs = this.#subs.metrics;
    if (subs.size === 0) return;
    let sent = 0;
    for (const s of subs) {
      if (s.pending.size === 0 && s.conn.bufferedAmount <= this.#slowBytes) {
        s.conn.sendText(text);
        sent++;
        continue;
      }
      if (s.pending.has(nodeId)) this.#coalesced.inc();
      s.pending.set(nodeId, text);
      this.#waiting.add(s);
    }
    this.#sent.inc({ topic: 'metrics' }, sent);
    if (this.#waiting.size > 0) this.#schedule();
  }

  /** A node left: its held-back metrics must not arrive after its node:left. */
  forgetNode(nodeId: string): void {
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
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
  }
}
