import { randomUUID } from 'node:crypto';
import {
  checkTakeNotify,
  compareStreamIds,
  type Engine,
  parseStreamId,
  type StreamAppendOptions,
  type StreamEntry,
  type StreamInfo,
  type StreamTakeNotify,
} from './types.js';

export interface MemoryEngineOptions {
  /** Clock, for tests. @default Date.now */
  now?: () => number;
  /** How often expired keys are purged. @default 10000 */
  purgeIntervalMs?: number;
}

interface Stream {
  entries: StreamEntry[];
  lastMs: number;
  lastSeq: number;
  maxDeleted: string;
  expiresAt: number;
}

/**
 * The embedded engine: everything in this process's memory. Semantics match the Redis
 * engine (the contract suite runs against both), so a deployment can move to Redis
 * without a surface noticing.
 */
export function createMemoryEngine(options: MemoryEngineOptions = {}): Engine & { size(): number } {
  const now = options.now ?? Date.now;
  const instanceId = randomUUID();
  const keys = new Map<string, { value: string; expiresAt: number }>();
  const hashes = new Map<string, Map<string, string>>();
  const lists = new Map<string, string[]>();
  const leases = new Map<string, Map<string, number>>();
  const streams = new Map<string, Stream>();
  const channels = new Map<string, Set<(message: string) => void>>();
  const appending = new Map<string, Promise<string>>();

  const liveKey = (key: string) => {
    const entry = keys.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now()) {
      keys.delete(key);
      return undefined;
    }
    return entry;
  };

  const purge = () => {
    const t = now();
    for (const [k, v] of keys) if (v.expiresAt <= t) keys.delete(k);
    for (const [k, v] of streams) if (v.expiresAt <= t) streams.delete(k);
  };
  const timer = setInterval(purge, options.purgeIntervalMs ?? 10_000);
  timer.unref();

  const liveStream = (key: string): Stream | undefined => {
    const s = streams.get(key);
    if (s && s.expiresAt <= now()) {
      streams.delete(key);
      return undefined;
    }
    return s;
  };
  const stream = (key: string): Stream => {
    let s = liveStream(key);
    if (!s) {
      s = { entries: [], lastMs: 0, lastSeq: -1, maxDeleted: '0-0', expiresAt: Number.POSITIVE_INFINITY };
      streams.set(key, s);
    }
    return s;
  };

  const markDeleted = (s: Stream, id: string) => {
    if (compareStreamIds(id, s.maxDeleted) > 0) s.maxDeleted = id;
  };

  const engine: Engine & { size(): number } = {
    kind: 'memory',
    instanceId,
    size: () => keys.size + hashes.size + lists.size + leases.size + streams.size,
    async ping() {
      return true;
    },
    async close() {
      clearInterval(timer);
      channels.clear();
    },

    async publish(channel, message) {
      const handlers = channels.get(channel);
      if (!handlers) return;
      for (const h of [...handlers]) {
        queueMicrotask(() => {
          try {
            h(message);
          } catch {
            // a subscriber's failure never reaches the publisher (as with Redis)
          }
        });
      }
    },
    onReconnect() {
      // one process, no connection to lose
      return () => {};
    },
    async subscribe(channel, handler) {
      let set = channels.get(channel);
      if (!set) {
        set = new Set();
        channels.set(channel, set);
      }
      // wrap so one handler subscribed twice is two subscriptions
      const h = (m: string) => handler(m);
      set.add(h);
      return async () => {
        set.delete(h);
        if (set.size === 0 && channels.get(channel) === set) channels.delete(channel);
      };
    },

    async get(key) {
      return liveKey(key)?.value ?? null;
    },
    async set(key, value, ttlMs) {
      keys.set(key, { value, expiresAt: ttlMs === undefined ? Number.POSITIVE_INFINITY : now() + ttlMs });
    },
    async setIfAbsent(key, value, ttlMs) {
      if (liveKey(key)) return false;
      keys.set(key, { value, expiresAt: now() + ttlMs });
      return true;
    },
    async take(key) {
      const entry = liveKey(key);
      if (!entry) return null;
      keys.delete(key);
      return entry.value;
    },
    async del(key) {
      const existed = liveKey(key) !== undefined || hashes.has(key) || lists.has(key) || leases.has(key);
      keys.delete(key);
      hashes.delete(key);
      lists.delete(key);
      leases.delete(key);
      streams.delete(key);
      return existed;
    },
    async incr(key, ttlMs) {
      const entry = liveKey(key);
      if (!entry) {
        keys.set(key, {
          value: '1',
          expiresAt: ttlMs === undefined ? Number.POSITIVE_INFINITY : now() + ttlMs,
        });
        return 1;
      }
      const n = Number.parseInt(entry.value, 10) + 1;
      entry.value = String(n);
      return n;
    },
    async expire(key, ttlMs) {
      const entry = liveKey(key);
      if (!entry) return false;
      entry.expiresAt = now() + ttlMs;
      return true;
    },

    async hset(key, fields) {
      let h = hashes.get(key);
      if (!h) {
        h = new Map();
        hashes.set(key, h);
      }
      for (const [f, v] of Object.entries(fields)) h.set(f, v);
    },
    async hget(key, field) {
      return hashes.get(key)?.get(field) ?? null;
    },
    async hgetall(key) {
      return Object.fromEntries(hashes.get(key) ?? []);
    },
    async hdel(key, field) {
      const h = hashes.get(key);
      if (!h) return false;
      const had = h.delete(field);
      if (h.size === 0) hashes.delete(key);
      return had;
    },

    async listPush(key, value, front) {
      let l = lists.get(key);
      if (!l) {
        l = [];
        lists.set(key, l);
      }
      if (front) l.unshift(value);
      else l.push(value);
      return l.length;
    },
    async listPop(key) {
      const l = lists.get(key);
      if (!l || l.length === 0) return null;
      const v = l.shift() ?? null;
      if (l.length === 0) lists.delete(key);
      return v;
    },
    async listPopLease(listKey, leaseKey, ttlMs, memberSuffix = '') {
      const head = await engine.listPop(listKey);
      if (head !== null) await engine.leaseAdd(leaseKey, head + memberSuffix, ttlMs);
      return head;
    },
    async listLength(key) {
      return lists.get(key)?.length ?? 0;
    },
    async listRemove(key, value) {
      const l = lists.get(key);
      if (!l) return 0;
      const kept = l.filter((v) => v !== value);
      const removed = l.length - kept.length;
      if (kept.length === 0) lists.delete(key);
      else lists.set(key, kept);
      return removed;
    },

    async leaseAdd(key, member, ttlMs) {
      let l = leases.get(key);
      if (!l) {
        l = new Map();
        leases.set(key, l);
      }
      l.set(member, now() + ttlMs);
    },
    async leaseRemove(key, member) {
      const l = leases.get(key);
      if (!l) return false;
      const had = l.delete(member);
      if (l.size === 0) leases.delete(key);
      return had;
    },
    async leaseMembers(key) {
      const l = leases.get(key);
      if (!l) return [];
      const t = now();
      return [...l].filter(([, exp]) => exp > t).map(([m]) => m);
    },
    async leaseExpire(key) {
      const l = leases.get(key);
      if (!l) return [];
      const t = now();
      const gone: string[] = [];
      for (const [m, exp] of l) {
        if (exp <= t) {
          gone.push(m);
          l.delete(m);
        }
      }
      if (l.size === 0) leases.delete(key);
      return gone;
    },

    async streamAppend(key, data, opts: StreamAppendOptions = {}) {
      const s = stream(key);
      const t = now();
      if (t > s.lastMs) {
        s.lastMs = t;
        s.lastSeq = 0;
      } else {
        s.lastSeq += 1;
      }
      const id = `${s.lastMs}-${s.lastSeq}`;
      if (opts.expireMs !== undefined) s.expiresAt = t + opts.expireMs;
      s.entries.push({ id, data });
      if (opts.notify) void engine.publish(opts.notify, JSON.stringify([[id, data]]));
      if (opts.maxLen !== undefined) {
        while (s.entries.length > opts.maxLen) markDeleted(s, s.entries.shift()!.id);
      }
      if (opts.minAgeMs !== undefined) {
        const cutoff = t - opts.minAgeMs;
        while (s.entries.length > 0 && parseStreamId(s.entries[0]!.id)[0] < cutoff) {
          markDeleted(s, s.entries.shift()!.id);
        }
      }
      return id;
    },
    async streamAppendOnce(key, data, onceKey, onceTtlMs, opts = {}) {
      const existing = liveKey(onceKey);
      if (existing) return { id: existing.value, created: false };
      const inFlight = appending.get(onceKey);
      if (inFlight) return { id: await inFlight, created: false };
      // claimed before the first await, so a concurrent call sees it
      const pending = engine.streamAppend(key, data, opts);
      appending.set(onceKey, pending);
      try {
        const id = await pending;
        keys.set(onceKey, { value: id, expiresAt: now() + onceTtlMs });
        return { id, created: true };
      } finally {
        appending.delete(onceKey);
      }
    },
    async streamRange(key, afterId, count) {
      const s = liveStream(key);
      if (!s) return [];
      const out: StreamEntry[] = [];
      // entries are sorted: binary search for the first id > afterId
      let lo = 0;
      let hi = s.entries.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareStreamIds(s.entries[mid]!.id, afterId) <= 0) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < s.entries.length && out.length < count; i++) out.push({ ...s.entries[i]! });
      return out;
    },
    async streamTail(key, count) {
      const s = liveStream(key);
      if (!s || count <= 0) return [];
      return s.entries.slice(-count).map((e) => ({ ...e }));
    },
    async streamInfo(key): Promise<StreamInfo> {
      const s = liveStream(key);
      if (!s) return { length: 0, firstId: null, lastId: null, maxDeletedId: '0-0' };
      return {
        length: s.entries.length,
        firstId: s.entries[0]?.id ?? null,
        lastId: s.lastSeq >= 0 ? `${s.lastMs}-${s.lastSeq}` : null,
        maxDeletedId: s.maxDeleted,
      };
    },
    async streamTake(key, ids, notify) {
      if (notify) checkTakeNotify(notify);
      const s = liveStream(key);
      if (!s) return [];
      const byId = new Map(s.entries.map((e) => [e.id, e]));
      const taken: StreamEntry[] = [];
      for (const id of ids) {
        const e = byId.get(id);
        if (!e) continue;
        byId.delete(id);
        markDeleted(s, id);
        taken.push({ id: e.id, data: e.data });
      }
      if (taken.length > 0) s.entries = s.entries.filter((e) => byId.has(e.id));
      if (notify) {
        const notice = takeNotice(taken, notify);
        if (notice) void engine.publish(notify.channel, notice);
        for (const e of taken) e.data = '';
      }
      return taken;
    },
    async streamDelete(key, ids) {
      const s = liveStream(key);
      if (!s) return 0;
      const wanted = new Set(ids);
      const before = s.entries.length;
      s.entries = s.entries.filter((e) => {
        if (!wanted.has(e.id)) return true;
        markDeleted(s, e.id);
        return false;
      });
      return before - s.entries.length;
    },
  };
  return engine;
}

/** The StreamTakeNotify message of one take (undefined when no entry is listed). */
function takeNotice(taken: StreamEntry[], notify: StreamTakeNotify): string | undefined {
  const prefix = `{"${notify.field}":"`;
  const groups = new Map<string, string[]>();
  for (const e of taken) {
    if (!e.data.startsWith(prefix)) continue;
    const close = e.data.indexOf('"', prefix.length);
    if (close < 0) continue;
    const value = e.data.slice(prefix.length, close);
    // an escape or a control character: left out (the notice is built without encoding)
    if (/[\\\u0000-\u001f\u007f]/.test(value)) continue;
    const ids = groups.get(value);
    if (ids) ids.push(e.id);
    else groups.set(value, [e.id]);
  }
  if (groups.size === 0) return undefined;
  const rows = [...groups].map(([value, ids]) => `["${value}",${JSON.stringify(ids)},${notify.tag}]`);
  return `[${rows.join(',')}]`;
}
