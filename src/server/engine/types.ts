/**
 * The engine: the one seam through which nodes share state. `memory` serves one
 * process; `redis` serves any number of processes and hosts. Both are held to
 * one contract suite (`engine.contract.ts`).
 *
 * Surfaces receive an engine from the composition root and never import a Redis client.
 */
export interface Engine {
  readonly kind: 'memory' | 'redis';
  /** Unique per process; lets a node recognise its own published messages. */
  readonly instanceId: string;

  /** true when the backing store answers (for /readyz). */
  ping(): Promise<boolean>;
  close(): Promise<void>;

  // ── publish/subscribe ──────────────────────────────────────────────────────────
  /** Delivers `message` to every subscriber of `channel` on every node, this one included. */
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active; returns its unsubscribe function. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  /**
   * Called after the pub/sub connection was lost and is back (subscriptions restored):
   * messages published meanwhile were missed, so surfaces re-read what they keep in
   * streams. Returns the function that removes the listener.
   */
  onReconnect(listener: () => void): () => void;

  // ── keys with expiry ───────────────────────────────────────────────────────────
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** SET NX PX: true when the key did not exist and now holds `value`. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Atomically reads and deletes a key (single-use values such as nonces). */
  take(key: string): Promise<string | null>;
  del(key: string): Promise<boolean>;
  /** Increments an integer key, creating it with `ttlMs` expiry when new. */
  incr(key: string, ttlMs?: number): Promise<number>;
  /** Extends a key's lifetime; false when it does not exist. */
  expire(key: string, ttlMs: number): Promise<boolean>;

  // ── hashes ─────────────────────────────────────────────────────────────────────
  hset(key: string, fields: Record<string, string>): Promise<void>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  hdel(key: string, field: string): Promise<boolean>;

  // ── lists (FIFO queues) ────────────────────────────────────────────────────────
  /** Appends at the tail (or the head with `front`), returns the new length. */
  listPush(key: string, value: string, front?: boolean): Promise<number>;
  /** Removes and returns the head. */
  listPop(key: string): Promise<string | null>;
  listLength(key: string): Promise<number>;
  /** Removes every occurrence of `value`; returns how many were removed. */
  listRemove(key: string, value: string): Promise<number>;

  /**
   * Atomically removes the head of `listKey` and adds `head + memberSuffix` to the lease set
   * `leaseKey` for `ttlMs`: a process that dies right after taking an item leaves a lease
   * that runs out (and can be swept), never an item that is simply gone.
   */
  listPopLease(
    listKey: string,
    leaseKey: string,
    ttlMs: number,
    memberSuffix?: string,
  ): Promise<string | null>;

  // ── leases: set members that expire unless renewed ──────────────────────────────
  /** Adds or renews `member` in the lease set `key` until now + ttlMs. */
  leaseAdd(key: string, member: string, ttlMs: number): Promise<void>;
  /** Removes a member; true when it was there (only one caller gets true). */
  leaseRemove(key: string, member: string): Promise<boolean>;
  /** Members whose lease has not run out. */
  leaseMembers(key: string): Promise<string[]>;
  /**
   * Removes and returns the members whose lease ran out. Atomic: when several nodes
   * sweep at once, each expired member is returned to exactly one of them.
   */
  leaseExpire(key: string): Promise<string[]>;

  // ── append-only streams ────────────────────────────────────────────────────────
  /**
   * Appends an entry and returns its id (`<ms>-<seq>`, increasing within a stream).
   * Keeps at most `maxLen` entries (oldest trimmed) and, with `minAgeMs`, trims entries
   * older than that.
   */
  streamAppend(key: string, data: string, options?: StreamAppendOptions): Promise<string>;
  /**
   * Appends unless `onceKey` exists, atomically: the first call stores the entry and keeps
   * its id under `onceKey` for `onceTtlMs`; later calls store nothing and get that id back
   * (`created: false`). Idempotent writes without a pending state that a crash could strand.
   */
  streamAppendOnce(
    key: string,
    data: string,
    onceKey: string,
    onceTtlMs: number,
    options?: StreamAppendOptions,
  ): Promise<{ id: string; created: boolean }>;
  /** Entries with id strictly greater than `afterId` ('0' or '0-0' for all), oldest first. */
  streamRange(key: string, afterId: string, count: number): Promise<StreamEntry[]>;
  /** The newest `count` entries, oldest first. */
  streamTail(key: string, count: number): Promise<StreamEntry[]>;
  streamInfo(key: string): Promise<StreamInfo>;
  /** Deletes entries by id; returns how many existed. */
  streamDelete(key: string, ids: string[]): Promise<number>;
  /**
   * Deletes entries by id and returns the ones this call removed, with their data, in the
   * order of `ids`, in one atomic step: each entry is taken by exactly one caller. Ids that
   * do not exist (or are not stream ids) are skipped. With `notify`, the same step publishes
   * what was taken (see StreamTakeNotify), and the entries come back without their data ('').
   */
  streamTake(key: string, ids: string[], notify?: StreamTakeNotify): Promise<StreamEntry[]>;
}

/** Throws for a notice no entry could match or no one could hear (a caller's bug). */
export function checkTakeNotify(notify: StreamTakeNotify): void {
  if (notify.channel === '') throw new TypeError('StreamTakeNotify.channel is empty');
  if (notify.field === '' || /["\\\u0000-\u001f]/.test(notify.field))
    throw new TypeError('StreamTakeNotify.field must be a plain key');
}

/**
 * A notice of taken entries, published in the same atomic step as the take (so a process
 * that dies right after taking cannot leave it untold): the taken ids grouped by the field
 * their data starts with, as JSON `[[value, [id, …], tag], …]`, where `tag` is the caller's
 * JSON text as given. The value is read from the text, not decoded: an entry is listed when
 * its data starts with `{"<field>":"<value>"` and the value holds no escape and no control
 * character (an address, an id). Nothing is published when nothing is listed. One message
 * may carry several takes (takes batched together).
 */
export interface StreamTakeNotify {
  /** Not empty. */
  channel: string;
  /** The first key of the entries' JSON data. */
  field: string;
  /** JSON text (an object, say), copied into each of this take's groups. */
  tag: string;
}

export interface StreamAppendOptions {
  /** @default unbounded */
  maxLen?: number;
  /** Entries older than this many ms are trimmed on append. */
  minAgeMs?: number;
  /** The whole stream expires this many ms after its last append. */
  expireMs?: number;
  /**
   * Publishes the new entry on this channel in the same atomic step as the append, as
   * JSON `[[id, data], …]`: one message may carry several entries (appends batched
   * together). Not published when `streamAppendOnce` finds an earlier append.
   */
  notify?: string;
}

export interface StreamEntry {
  id: string;
  data: string;
}

export interface StreamInfo {
  length: number;
  firstId: string | null;
  lastId: string | null;
  /** The greatest id ever trimmed or deleted ('0-0' when none): ids up to it are gone. */
  maxDeletedId: string;
}

/** Compares two stream ids (`<ms>-<seq>`). */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = parseStreamId(a);
  const [bm = 0, bs = 0] = parseStreamId(b);
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

/** Parses `<ms>-<seq>` or `<ms>`; [NaN, NaN] for anything else. */
export function parseStreamId(id: string): [number, number] {
  const m = /^(\d{1,16})(?:-(\d{1,16}))?$/.exec(id);
  if (!m) return [Number.NaN, Number.NaN];
  return [Number(m[1]), Number(m[2] ?? 0)];
}
