import { createHash, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Engine, StreamAppendOptions, StreamEntry, StreamInfo } from './types.js';

export interface RedisEngineOptions {
  url: string;
  /** Prefix of every key this engine writes (channels are used as given). @default 'p3:' */
  keyPrefix?: string;
  /** Clock used for lease expiry. @default Date.now */
  now?: () => number;
  /** Called with connection errors (ioredis reconnects by itself). */
  onError?: (error: Error) => void;
  redisOptions?: RedisOptions;
}

// Atomically pops the members of a lease set whose expiry score is <= now.
const LEASE_EXPIRE = `
local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #m > 0 then
  for i = 1, #m, 500 do
    redis.call('ZREM', KEYS[1], unpack(m, i, math.min(i + 499, #m)))
  end
end
return m`;

// Appends and trims in one step, remembering the greatest trimmed id in a marker key
// (XINFO's max-deleted-entry-id is not moved by trimming on Redis 7.0).
const STREAM_APPEND_BODY = `
local id = redis.call('XADD', KEYS[1], '*', 'd', ARGV[1])
if ARGV[2] ~= '' then
  local n = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
  if n > 0 then
    local r = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', n)
    redis.call('SET', KEYS[2], r[#r][1])
    redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', ARGV[2])
  end
end
if ARGV[3] ~= '' then
  local r = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[3], '-', 'COUNT', 1)
  if #r > 0 then
    redis.call('SET', KEYS[2], r[1][1])
    redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
  end
end
if ARGV[4] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
end
`;
const STREAM_APPEND = `${STREAM_APPEND_BODY}return id`;
// the same, unless KEYS[3] already holds the id of an earlier append (then: that id)
const STREAM_APPEND_ONCE = `
local done = redis.call('GET', KEYS[3])
if done then return {done, 0} end
${STREAM_APPEND_BODY}redis.call('SET', KEYS[3], id, 'PX', ARGV[5])
return {id, 1}`;

// LPOP and the lease of the popped item in one step (no window where it is in neither)
const LIST_POP_LEASE = `
local v = redis.call('LPOP', KEYS[1])
if v then redis.call('ZADD', KEYS[2], ARGV[1], v .. ARGV[2]) end
return v`;

/** Stream-id order in Lua, for the trim marker (the greatest id deleted so far). */
const LUA_ID_ORDER = `
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-?(%d*)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local function greater(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  return am > bm or (am == bm and as > bs)
end`;

/** Stores the moved trim marker; it lives as long as its stream (an expiring inbox must not leave it behind). */
const LUA_SAVE_MARKER = `
if moved then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('SET', KEYS[2], top, 'PX', ttl) else redis.call('SET', KEYS[2], top) end
end`;

// XDEL of existing ids in one step, moving the trim marker up to the greatest one deleted
const STREAM_DELETE = `
local removed = 0
local top = redis.call('GET', KEYS[2]) or '0-0'
local moved = false
${LUA_ID_ORDER}
for i = 1, #ARGV do
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    removed = removed + 1
    if greater(ARGV[i], top) then top = ARGV[i]; moved = true end
  end
end
${LUA_SAVE_MARKER}
return removed`;

const STREAM_FIELD = 'd';

/** STREAM_DELETE that also returns what it removed: flat [id, data, id, data, …]. */
const STREAM_TAKE = `
local out = {}
local top = redis.call('GET', KEYS[2]) or '0-0'
local moved = false
${LUA_ID_ORDER}
for i = 1, #ARGV do
  local id = ARGV[i]
  if string.match(id, '^%d+%-%d+$') then
    local rows = redis.call('XRANGE', KEYS[1], id, id)
    if #rows > 0 and redis.call('XDEL', KEYS[1], id) == 1 then
      local fields = rows[1][2]
      local data = ''
      for j = 1, #fields, 2 do
        if fields[j] == '${STREAM_FIELD}' then data = fields[j + 1] end
      end
      out[#out + 1] = id
      out[#out + 1] = data
      if greater(id, top) then top = id; moved = true end
    end
  end
end
${LUA_SAVE_MARKER}
return out`;
const TRIM_MARKER = ':trimmed';

/**
 * The Redis engine (ioredis). Uses Redis features as they are meant: SET NX PX for
 * single-use values, GETDEL, sorted sets scored by expiry for leases, Streams for
 * append-only logs, and one dedicated connection for pub/sub.
 */
export function createRedisEngine(options: RedisEngineOptions): Engine & { client: Redis } {
  const prefix = options.keyPrefix ?? 'p3:';
  const now = options.now ?? Date.now;
  const base: RedisOptions = { lazyConnect: false, enableAutoPipelining: true, ...options.redisOptions };
  const client = new Redis(options.url, { ...base, connectionName: 'p3-cmd' });
  const sub = new Redis(options.url, { ...base, enableAutoPipelining: false, connectionName: 'p3-sub' });
  /**
   * A Lua script run by its SHA1 (EVALSHA): the source goes over the wire and through
   * Redis's hashing only when Redis does not have it cached (NOSCRIPT, e.g. after a restart).
   */
  const script = (lua: string) => {
    const sha = createHash('sha1').update(lua).digest('hex');
    return async (keys: string[], ...args: string[]): Promise<unknown> => {
      try {
        return await client.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
        return client.eval(lua, keys.length, ...keys, ...args);
      }
    };
  };
  const listPopLease = script(LIST_POP_LEASE);
  const leaseExpire = script(LEASE_EXPIRE);
  const streamAppend = script(STREAM_APPEND);
  const streamAppendOnce = script(STREAM_APPEND_ONCE);
  const streamDelete = script(STREAM_DELETE);
  const streamTake = script(STREAM_TAKE);
  const onError = options.onError ?? (() => {});
  client.on('error', onError);
  sub.on('error', onError);

  const handlers = new Map<string, Set<(message: string) => void>>();
  sub.on('message', (channel: string, message: string) => {
    const set = handlers.get(channel);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(message);
      } catch (error) {
        onError(error as Error);
      }
    }
  });

  // the subscriber's first 'ready' is the initial connect; later ones are reconnects
  // (ioredis restores the subscriptions itself; listeners run once that had time to land)
  const reconnectListeners = new Set<() => void>();
  const notifyReconnect = () => {
    for (const delay of [200, 2_000]) {
      setTimeout(() => {
        for (const l of [...reconnectListeners]) {
          try {
            l();
          } catch (error) {
            onError(error as Error);
          }
        }
      }, delay).unref();
    }
  };
  // either connection coming back means publishes (command side) or deliveries (subscriber
  // side) may have been lost meanwhile
  for (const conn of [sub, client]) {
    let readyCount = 0;
    conn.on('ready', () => {
      if (readyCount++ > 0) notifyReconnect();
    });
  }

  const k = (key: string) => prefix + key;
  const fieldsToEntry = (id: string, fields: string[]): StreamEntry => {
    let data = '';
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === STREAM_FIELD) data = fields[i + 1]!;
    return { id, data };
  };

  let closed = false;
  return {
    kind: 'redis',
    instanceId: randomUUID(),
    client,
    async ping() {
      try {
        const timeout = new Promise<string>((_, reject) => {
          const t = setTimeout(() => reject(new Error('ping timeout')), 1000);
          t.unref();
        });
        return (await Promise.race([client.ping(), timeout])) === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      handlers.clear();
      await Promise.allSettled([client.quit(), sub.quit()]);
      client.disconnect();
      sub.disconnect();
    },

    async publish(channel, message) {
      await client.publish(channel, message);
    },
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    async subscribe(channel, handler) {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await sub.subscribe(channel);
      }
      const h = (m: string) => handler(m);
      set.add(h);
      return async () => {
        set.delete(h);
        if (set.size === 0 && handlers.get(channel) === set) {
          handlers.delete(channel);
          if (!closed) await sub.unsubscribe(channel);
        }
      };
    },

    async get(key) {
      return client.get(k(key));
    },
    async set(key, value, ttlMs) {
      if (ttlMs === undefined) await client.set(k(key), value);
      else await client.set(k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)));
    },
    async setIfAbsent(key, value, ttlMs) {
      return (await client.set(k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
    },
    async take(key) {
      return client.getdel(k(key));
    },
    async del(key) {
      return (await client.del(k(key), k(key) + TRIM_MARKER)) > 0;
    },
    async incr(key, ttlMs) {
      const n = await client.incr(k(key));
      if (n === 1 && ttlMs !== undefined) await client.pexpire(k(key), Math.max(1, Math.ceil(ttlMs)));
      return n;
    },
    async expire(key, ttlMs) {
      return (await client.pexpire(k(key), Math.max(1, Math.ceil(ttlMs)))) === 1;
    },

    async hset(key, fields) {
      await client.hset(k(key), fields);
    },
    async hget(key, field) {
      return client.hget(k(key), field);
    },
    async hgetall(key) {
      return client.hgetall(k(key));
    },
    async hdel(key, field) {
      return (await client.hdel(k(key), field)) > 0;
    },

    async listPush(key, value, front) {
      return front ? client.lpush(k(key), value) : client.rpush(k(key), value);
    },
    async listPop(key) {
      return client.lpop(k(key));
    },
    async listPopLease(listKey, leaseKey, ttlMs, memberSuffix = '') {
      return (await listPopLease([k(listKey), k(leaseKey)], String(now() + ttlMs), memberSuffix)) as
        | string
        | null;
    },
    async listLength(key) {
      return client.llen(k(key));
    },
    async listRemove(key, value) {
      return client.lrem(k(key), 0, value);
    },

    async leaseAdd(key, member, ttlMs) {
      await client.zadd(k(key), now() + ttlMs, member);
    },
    async leaseRemove(key, member) {
      return (await client.zrem(k(key), member)) > 0;
    },
    async leaseMembers(key) {
      return client.zrangebyscore(k(key), `(${now()}`, '+inf');
    },
    async leaseExpire(key) {
      return (await leaseExpire([k(key)], String(now()))) as string[];
    },

    async streamAppend(key, data, opts: StreamAppendOptions = {}) {
      const minId = opts.minAgeMs === undefined ? '' : String(Math.max(0, now() - opts.minAgeMs));
      return (await streamAppend(
        [k(key), k(key) + TRIM_MARKER],
        data,
        opts.maxLen === undefined ? '' : String(opts.maxLen),
        minId,
        opts.expireMs === undefined ? '' : String(Math.ceil(opts.expireMs)),
      )) as string;
    },
    async streamAppendOnce(key, data, onceKey, onceTtlMs, opts: StreamAppendOptions = {}) {
      const minId = opts.minAgeMs === undefined ? '' : String(Math.max(0, now() - opts.minAgeMs));
      const [id, created] = (await streamAppendOnce(
        [k(key), k(key) + TRIM_MARKER, k(onceKey)],
        data,
        opts.maxLen === undefined ? '' : String(opts.maxLen),
        minId,
        opts.expireMs === undefined ? '' : String(Math.ceil(opts.expireMs)),
        String(Math.max(1, Math.ceil(onceTtlMs))),
      )) as [string, number];
      return { id, created: created === 1 };
    },
    async streamRange(key, afterId, count) {
      const rows = (await client.xrange(k(key), `(${afterId}`, '+', 'COUNT', count)) as [string, string[]][];
      return rows.map(([id, fields]) => fieldsToEntry(id, fields));
    },
    async streamTail(key, count) {
      if (count <= 0) return [];
      const rows = (await client.xrevrange(k(key), '+', '-', 'COUNT', count)) as [string, string[]][];
      return rows.reverse().map(([id, fields]) => fieldsToEntry(id, fields));
    },
    async streamInfo(key): Promise<StreamInfo> {
      let raw: unknown[];
      try {
        raw = (await client.call('XINFO', 'STREAM', k(key))) as unknown[];
      } catch (error) {
        if (/no such key/i.test((error as Error).message)) {
          return { length: 0, firstId: null, lastId: null, maxDeletedId: '0-0' };
        }
        throw error;
      }
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < raw.length; i += 2) info.set(String(raw[i]), raw[i + 1]);
      const first = info.get('first-entry') as [string, string[]] | null;
      const last = String(info.get('last-generated-id') ?? '0-0');
      return {
        length: Number(info.get('length') ?? 0),
        firstId: first ? first[0] : null,
        lastId: last === '0-0' ? null : last,
        maxDeletedId: (await client.get(k(key) + TRIM_MARKER)) ?? '0-0',
      };
    },
    async streamTake(key, ids) {
      if (ids.length === 0) return [];
      const flat = (await streamTake([k(key), k(key) + TRIM_MARKER], ...ids)) as string[];
      const out: StreamEntry[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, data: flat[i + 1]! });
      return out;
    },
    async streamDelete(key, ids) {
      if (ids.length === 0) return 0;
      return (await streamDelete([k(key), k(key) + TRIM_MARKER], ...ids)) as number;
    },
  };
}
