import type { MetricsUpdate, PulseSnapshot } from '../../protocol/pulse.js';
import { type NodeRecord, publicInfo } from './keys.js';

/** A reserved task slot on a node. */
export interface Slot {
  record: NodeRecord;
  release(): void;
}

interface Entry {
  record: NodeRecord;
  /** tasks held (from the engine on each sweep, adjusted by task events in between) */
  load: number;
  /** sequence number of the last assignment here: ties on load go round robin */
  lastAssigned: number;
  /** local time this entry was added (a fresh node may not be in the engine's lease read yet) */
  seenAt: number;
  /** leaving: gets no new task while its old ones are handed to others */
  draining: boolean;
}

/**
 * This server node's picture of the whole cluster: live nodes, their load and their
 * latest metrics. Fed by engine events and corrected from the engine on every sweep, so
 * snapshots are served from memory with no gap before the updates that follow them, and
 * the dispatcher picks the least busy node without a round trip. Bounded by
 * P3_PULSE_MAX_NODES (registration refuses more).
 */
export class ClusterView {
  readonly #nodes = new Map<string, Entry>();
  readonly #byCapability = new Map<string, Set<string>>();
  readonly #metrics = new Map<string, MetricsUpdate>();
  readonly #now: () => number;
  #seq = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  get size(): number {
    return this.#nodes.size;
  }
  has(nodeId: string): boolean {
    return this.#nodes.has(nodeId);
  }
  get(nodeId: string): NodeRecord | undefined {
    return this.#nodes.get(nodeId)?.record;
  }
  ids(): string[] {
    return [...this.#nodes.keys()];
  }
  capabilities(): string[] {
    return [...this.#byCapability.keys()];
  }
  seenAt(nodeId: string): number {
    return this.#nodes.get(nodeId)?.seenAt ?? 0;
  }

  /** Adds or replaces a node; true when it is new or moved to another connection. */
  upsert(record: NodeRecord): boolean {
    const old = this.#nodes.get(record.nodeId);
    if (old) this.#unindex(old.record);
    this.#nodes.set(record.nodeId, {
      record,
      load: old?.load ?? 0,
      lastAssigned: old?.lastAssigned ?? 0,
      seenAt: old && old.record.conn === record.conn ? old.seenAt : this.#now(),
      draining: false,
    });
    for (const c of record.capabilities) {
      let set = this.#byCapability.get(c);
      if (!set) {
        set = new Set();
        this.#byCapability.set(c, set);
      }
      set.add(record.nodeId);
    }
    return !old || old.record.conn !== record.conn || old.record.holder !== record.holder;
  }

  /** The node is leaving: no new tasks for it (it is removed once its leave is reported). */
  drain(nodeId: string): void {
    const e = this.#nodes.get(nodeId);
    if (e) e.draining = true;
  }

  remove(nodeId: string): NodeRecord | undefined {
    const old = this.#nodes.get(nodeId);
    if (!old) return undefined;
    this.#nodes.delete(nodeId);
    this.#metrics.delete(nodeId);
    this.#unindex(old.record);
    return old.record;
  }

  #unindex(record: NodeRecord) {
    for (const c of record.capabilities) {
      const set = this.#byCapability.get(c);
      set?.delete(record.nodeId);
      if (set?.size === 0) this.#byCapability.delete(c);
    }
  }

  setMetrics(update: MetricsUpdate): void {
    if (this.#nodes.has(update.nodeId)) this.#metrics.set(update.nodeId, update);
  }

  addLoad(nodeId: string | null, delta: number): void {
    const e = nodeId ? this.#nodes.get(nodeId) : undefined;
    if (e) e.load = Math.max(0, e.load + delta);
  }
  setLoad(nodeId: string, load: number): void {
    const e = this.#nodes.get(nodeId);
    if (e) e.load = load;
  }
  load(nodeId: string): number {
    return this.#nodes.get(nodeId)?.load ?? 0;
  }

  /**
   * Reserves a slot on the node with the capability that holds the fewest tasks and has a
   * free slot; on a tie, the one that got a task least recently (round robin). `release`
   * gives the slot back when no task came of it. `avoid`: a node not to pick (the one that
   * just lost the task).
   */
  reserve(capability: string, avoid?: string): Slot | undefined {
    const ids = this.#byCapability.get(capability);
    if (!ids) return undefined;
    let best: Entry | undefined;
    for (const id of ids) {
      const e = this.#nodes.get(id);
      if (!e || e.draining || e.load >= e.record.maxTasks || id === avoid) continue;
      if (!best || e.load < best.load || (e.load === best.load && e.lastAssigned < best.lastAssigned))
        best = e;
    }
    if (!best) return undefined;
    const e = best;
    const before = e.lastAssigned;
    e.lastAssigned = ++this.#seq;
    e.load++;
    return {
      record: e.record,
      release: () => {
        e.lastAssigned = before;
        e.load = Math.max(0, e.load - 1);
      },
    };
  }

  snapshot(): PulseSnapshot {
    const nodes = [...this.#nodes.values()].map((e) => publicInfo(e.record));
    return { nodes, metrics: [...this.#metrics.values()] };
  }
}
