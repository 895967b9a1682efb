import { createHash, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { perTurn } from './batch.js';
import { coalesceWrites } from './coalesce.js';
import {
  checkTakeNotify,
  type Engine,
  type StreamAppendOptions,
  type StreamEntry,
  type StreamInfo,
  type StreamTakeNotify,
} from './types.js';

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

/** Stores a moved trim marker; it lives as long as its stream (an expiring inbox must not leave it behind). */
const LUA_SAVE_MARKER = `
local function save_marker(stream, marker, top)
  local ttl = redis.call('PTTL', stream)
  if ttl > 0 then redis.call('SET', marker, top, 'PX', ttl) else redis.call('SET', marker, top) end
end`;

/** The message of an error caught by pcall (redis.call raises a table with \`err\`). */
const LUA_ERROR_TEXT = `
local function error_text(e)
  if type(e) == 'table' and e.err then return e.err end
  return tostring(e)
end`;

// XDEL of existing ids in one step, moving the trim marker up to the greatest one deleted
const STREAM_DELETE = `
${LUA_ID_ORDER}
${LUA_SAVE_MARKER}
local removed = 0
local top = redis.call('GET', KEYS[2]) or '0-0'
local moved = false
for i = 1, #ARGV do
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    removed = removed + 1
    if greater(ARGV[i], top) then top = ARGV[i]; moved = true end
  end
end
if moved then save_marker(KEYS[1], KEYS[2], top) end
return removed`;

const STREAM_FIELD = 'd';

// STREAM_DELETE that also returns what it removed, for many streams in one call (KEYS:
// stream, marker per item; ARGV: per item the number of ids, the notice channel, field and
// tag ('' = no notice), then the ids). Each item answers a flat {id, data, id, data, …}
// (data '' with a notice) or {-1, error}. The takes' notices go out as one PUBLISH per
// channel, in the same atomic step.
const STREAM_TAKE_MANY = `
${LUA_ID_ORDER}
${LUA_SAVE_MARKER}
${LUA_ERROR_TEXT}
local function take(stream, marker, first, last)
  local out = {}
  local top = redis.call('GET', marker) or '0-0'
  local moved = false
  for i = first, last do
    local id = ARGV[i]
    if string.match(id, '^%d+%-%d+$') then
      local rows = redis.call('XRANGE', stream, id, id)
      if #rows > 0 and redis.call('XDEL', stream, id) == 1 then
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
  if moved then save_marker(stream, marker, top) end
  return out
end
-- a take with a notice channel lists its ids grouped by the field its data starts with
-- (StreamTakeNotify): read from the text, never decoded (a body may be 64 KiB, and cjson
-- refuses a lone surrogate escape that JSON.stringify writes)
local notes, channels = {}, {}
local function lead(data, prefix)
  if string.sub(data, 1, #prefix) ~= prefix then return nil end
  local close = string.find(data, '"', #prefix + 1, true)
  if not close then return nil end
  local v = string.sub(data, #prefix + 1, close - 1)
  if string.find(v, '\\\\', 1, true) then return nil end
  if string.find(v, '%c') then return nil end
  return v
end
local function notice(ch, field, tag, taken)
  local prefix = '{"' .. field .. '":"'
  local groups, order = {}, {}
  for j = 1, #taken, 2 do
    local v = lead(taken[j + 1], prefix)
    if v then
      if not groups[v] then
        groups[v] = {}
        order[#order + 1] = v
      end
      local g = groups[v]
      g[#g + 1] = taken[j]
    end
  end
  if #order == 0 then return end
  if not notes[ch] then
    notes[ch] = {}
    channels[#channels + 1] = ch
  end
  local list = notes[ch]
  for _, v in ipairs(order) do
    list[#list + 1] = '["' .. v .. '",["' .. table.concat(groups[v], '","') .. '"],' .. tag .. ']'
  end
end
local answers = {}
local a = 1
for i = 1, #KEYS / 2 do
  local n = tonumber(ARGV[a])
  local ch = ARGV[a + 1]
  local ok, r = pcall(take, KEYS[2 * i - 1], KEYS[2 * i], a + 4, a + 3 + n)
  if ok then
    answers[i] = r
    if ch ~= '' then
      notice(ch, ARGV[a + 2], ARGV[a + 3], r)
      -- the caller has what it needs in the notice: the bodies stay here
      for j = 2, #r, 2 do r[j] = '' end
    end
  else
    answers[i] = {-1, error_text(r)}
  end
  a = a + n + 4
end
-- the entries are taken: a failed notice must not report the take as failed
for _, ch in ipairs(channels) do
  pcall(redis.call, 'PUBLISH', ch, '[' .. table.concat(notes[ch], ',') .. ']')
end
return answers`;

// Appends and trims in one step, remembering the greatest trimmed id in a marker key
// (XINFO's max-deleted-entry-id is not moved by trimming on Redis 7.0). Many appends in one
// call (KEYS: stream, marker, once-key per item; ARGV: data, maxLen, minId, expireMs,
// onceTtlMs, notify-channel per item; '' = not set). With a once-key TTL the append happens
// only if the once-key does not hold the id of an earlier one (then: that id, created 0).
// The new entries of one call go out as one PUBLISH per notify channel, in the same atomic
// step as the append: `[[id, data], …]`. Each item answers {id, 1|0} or {-1, error}.
const STREAM_APPEND_MANY = `
${LUA_ERROR_TEXT}
local function append(stream, marker, once, data, maxLen, minId, expire, onceTtl)
  if onceTtl ~= '' then
    local done = redis.call('GET', once)
    if done then return {done, 0} end
  end
  local id = redis.call('XADD', stream, '*', 'd', data)
  if maxLen ~= '' then
    local n = redis.call('XLEN', stream) - tonumber(maxLen)
    if n > 0 then
      local r = redis.call('XRANGE', stream, '-', '+', 'COUNT', n)
      redis.call('SET', marker, r[#r][1])
      redis.call('XTRIM', stream, 'MAXLEN', '=', maxLen)
    end
  end
  if minId ~= '' then
    local r = redis.call('XREVRANGE', stream, '(' .. minId, '-', 'COUNT', 1)
    if #r > 0 then
      redis.call('SET', marker, r[1][1])
      redis.call('XTRIM', stream, 'MINID', minId)
    end
  end
  if expire ~= '' then
    redis.call('PEXPIRE', stream, expire)
    if redis.call('EXISTS', marker) == 1 then redis.call('PEXPIRE', marker, expire) end
  end
  if onceTtl ~= '' then redis.call('SET', once, id, 'PX', onceTtl) end
  return {id, 1}
end
local out, notes, channels = {}, {}, {}
for i = 1, #KEYS / 3 do
  local a = (i - 1) * 6
  local data = ARGV[a + 1]
  local ok, r = pcall(append, KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], data,
    ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
  if ok then
    out[i] = r
    local ch = ARGV[a + 6]
    if r[2] == 1 and ch ~= '' then
      if not notes[ch] then
        notes[ch] = {}
        channels[#channels + 1] = ch
      end
      local list = notes[ch]
      list[#list + 1] = cjson.encode({r[1], data})
    end
  else
    out[i] = {-1, error_text(r)}
  end
end
-- the entries are stored: a failed notice must not report them as failed (a resync covers it)
for _, ch in ipairs(channels) do
  pcall(redis.call, 'PUBLISH', ch, '[' .. table.concat(notes[ch], ',') .. ']')
end
return out`;

const TRIM_MARKER = ':trimmed';
/** Most appends (or takes) in one script call. */
const MAX_BATCH = 128;
/**
 * Most entry bytes in one append call: its notice (the entries JSON-escaped once more) stays
 * a few MiB at most, far below Redis's pub/sub output limit (32 MB closes every subscriber).
 */
const MAX_BATCH_BYTES = 1 << 20;
/** Most ids in one take call (each is an XRANGE and an XDEL inside one script run). */
const MAX_BATCH_IDS = 2_000;

interface AppendItem {
  key: string;
  data: string;
  opts: StreamAppendOptions;
  once?: { key: string; ttlMs: number };
}

/**
 * The Redis engine (ioredis). Uses Redis features as they are meant: SET NX PX for
 * single-use values, GETDEL, sorted sets scored by expiry for leases, Streams for
 * append-only logs, and one dedicated connection for pub/sub.
 */
export function createRedisEngine(options: RedisEngineOptions): Engine & { client: Redis } {
  const prefix = options.keyPrefix ?? 'p3:';
  const now = options.now ?? Date.now;
  // No auto-pipelining: coalesceWrites sends a turn's commands in one write without the
  // Pipeline object ioredis builds per flush (measured: fewer promoted objects, less CPU).
  const base: RedisOptions = { lazyConnect: false, enableAutoPipelining: false, ...options.redisOptions };
  const client = coalesceWrites(new Redis(options.url, { ...base, connectionName: 'p3-cmd' }));
  const sub = new Redis(options.url, { ...base, connectionName: 'p3-sub' });
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
  const appendMany = script(STREAM_APPEND_MANY);
  const streamDelete = script(STREAM_DELETE);
  const takeMany = script(STREAM_TAKE_MANY);
  const onError = options.onError ?? (() => {});
  client.on('error', onError);
  sub.on('error', onError);

  // Appends and takes made in one event-loop turn go to Redis as one script call (see
  // perTurn): under load, one command, one reply and one PUBLISH per channel for many.
  const append = perTurn<AppendItem, [string, boolean]>(
    async (items) => {
      const keys: string[] = [];
      const args: string[] = [];
      const t = now();
      for (const { key, data, opts, once } of items) {
        const marker = k(key) + TRIM_MARKER;
        keys.push(k(key), marker, once ? k(once.key) : marker);
        args.push(
          data,
          opts.maxLen === undefined ? '' : String(opts.maxLen),
          opts.minAgeMs === undefined ? '' : String(Math.max(0, t - opts.minAgeMs)),
          opts.expireMs === undefined ? '' : String(Math.ceil(opts.expireMs)),
          once ? String(Math.max(1, Math.ceil(once.ttlMs))) : '',
          opts.notify ?? '',
        );
      }
      const rows = (await appendMany(keys, ...args)) as [string | number, string | number][];
      return rows.map(([id, created]) =>
        id === -1 ? new Error(String(created)) : [String(id), created === 1],
      );
    },
    MAX_BATCH,
    { weigh: (item) => item.data.length, maxWeight: MAX_BATCH_BYTES },
  );
  const take = perTurn<{ key: string; ids: string[]; notify: StreamTakeNotify | undefined }, StreamEntry[]>(
    async (items) => {
      const keys: string[] = [];
      const args: string[] = [];
      for (const { key, ids, notify } of items) {
        keys.push(k(key), k(key) + TRIM_MARKER);
        args.push(String(ids.length), notify?.channel ?? '', notify?.field ?? '', notify?.tag ?? '', ...ids);
      }
      const rows = (await takeMany(keys, ...args)) as (string | number)[][];
      return rows.map((flat) => {
        if (flat[0] === -1) return new Error(String(flat[1]));
        const out: StreamEntry[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2)
          out.push({ id: String(flat[i]), data: String(flat[i + 1]) });
        return out;
      });
    },
    MAX_BATCH,
    { weigh: (item) => item.ids.length, maxWeight: MAX_BATCH_IDS },
  );

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
      return (await append({ key, data, opts }))[0];
    },
    async streamAppendOnce(key, data, onceKey, onceTtlMs, opts: StreamAppendOptions = {}) {
      const [id, created] = await append({ key, data, opts, once: { key: onceKey, ttlMs: onceTtlMs } });
      return { id, created };
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
    async streamTake(key, ids, notify) {
      if (notify) checkTakeNotify(notify);
      if (ids.length === 0) return [];
      return take({ key, ids, notify });
    },
    async streamDelete(key, ids) {
      if (ids.length === 0) return 0;
      return (await streamDelete([k(key), k(key) + TRIM_MARKER], ...ids)) as number;
    },
  };
}
