/**
 * Configuration from the environment. Every variable is listed once here with its
 * default and description; `p3-realtime --help` prints this table. A bad value stops
 * start-up with a ConfigError naming the variable.
 */

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

type Parser<T> = (raw: string, name: string) => T;

const int =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    if (!/^\s*-?\d+\s*$/.test(raw)) throw new ConfigError(name, `expected an integer, got "${raw}"`);
    const n = Number.parseInt(raw, 10);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
const str: Parser<string> = (raw) => raw;
const optStr: Parser<string | undefined> = (raw) => (raw === '' ? undefined : raw);
const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const secret =
  (minLength: number): Parser<string | undefined> =>
  (raw, name) => {
    if (raw === '') return undefined;
    if (raw.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters`);
    return raw;
  };
const redisUrl: Parser<string | undefined> = (raw, name) => {
  if (raw === '') return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a URL (expected redis://host:port or rediss://…)');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigError(name, `must use redis:// or rediss://, got ${u.protocol}`);
  }
  return raw;
};
const origins: Parser<string[]> = (raw, name) =>
  list(raw, name).map((o) => {
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new ConfigError(name, `"${o}" is not an origin (expected scheme://host[:port])`);
    }
    if (u.origin === 'null' || u.pathname !== '/' || u.search || u.hash) {
      throw new ConfigError(name, `"${o}" is not an origin (expected scheme://host[:port])`);
    }
    return u.origin;
  });
const urls =
  (schemes: string[]): Parser<string[]> =>
  (raw, name) =>
    list(raw, name).map((x) => {
      const scheme = x.split(':')[0] ?? '';
      if (!schemes.includes(scheme)) {
        throw new ConfigError(name, `"${x}" must start with ${schemes.map((s) => `${s}:`).join(' or ')}`);
      }
      return x;
    });
const logLevel: Parser<string> = (raw, name) => {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(raw)) throw new ConfigError(name, `must be one of ${levels.join(', ')}`);
  return raw;
};

interface Spec<T> {
  env: string;
  default: string;
  doc: string;
  parse: Parser<T>;
}
const spec = <T>(env: string, def: string, doc: string, parse: Parser<T>): Spec<T> => ({
  env,
  default: def,
  doc,
  parse,
});

/** Every variable the server reads, in the order `--help` lists them. */
export const CONFIG_SPEC = {
  port: spec('PORT', '8080', 'HTTP port for every surface (0: any free port)', int(0, 65535)),
  host: spec('HOST', '0.0.0.0', 'Address to listen on', str),
  redisUrl: spec('REDIS_URL', '', 'Redis URL; set: nodes share state through Redis, unset: memory', redisUrl),
  heartbeatIntervalMs: spec(
    'WS_HEARTBEAT_INTERVAL',
    '30000',
    'Liveness sweep interval (ms)',
    int(100, 3_600_000),
  ),
  heartbeatTimeoutMs: spec(
    'WS_HEARTBEAT_TIMEOUT',
    '60000',
    'Silence after which a socket is terminated (ms)',
    int(200, 7_200_000),
  ),
  authSecret: spec(
    'P3_AUTH_SECRET',
    '',
    'HMAC secret for bearer tokens (>= 32 chars); required with REDIS_URL',
    secret(32),
  ),
  tokenTtlSec: spec('P3_TOKEN_TTL', '86400', 'Bearer token lifetime (s)', int(60, 30 * 86400)),
  serviceKey: spec(
    'P3_SERVICE_KEY',
    '',
    'Key for service endpoints (>= 16 chars); unset: they answer 403 service_disabled',
    secret(16),
  ),
  siweDomain: spec('P3_SIWE_DOMAIN', '', 'SIWE domain accepted at sign-in (default localhost:PORT)', str),
  allowedOrigins: spec(
    'P3_ALLOWED_ORIGINS',
    '',
    'Comma-separated browser origins besides the own one',
    origins,
  ),
  shards: spec('P3_SHARDS', '1', 'Worker processes sharing the port (> 1 needs REDIS_URL)', int(1, 64)),
  stunUrls: spec(
    'STUN_URLS',
    'stun:stun.l.google.com:19302,stun:stun1.l.google.com:19302',
    'Comma-separated STUN URLs (empty: none)',
    urls(['stun', 'stuns']),
  ),
  turnUrls: spec('TURN_URLS', '', 'Comma-separated TURN URLs; set: TURN is offered', urls(['turn', 'turns'])),
  turnSecret: spec('TURN_SECRET', '', 'coturn static-auth-secret: ephemeral TURN credentials', optStr),
  turnTtlSec: spec('TURN_TTL', '3600', 'Lifetime of ephemeral TURN credentials (s)', int(60, 7 * 86400)),
  turnUsername: spec('TURN_USERNAME', '', 'Static TURN username (when no TURN_SECRET)', optStr),
  turnCredential: spec('TURN_CREDENTIAL', '', 'Static TURN credential (when no TURN_SECRET)', optStr),
  maxFrameBytes: spec(
    'P3_MAX_FRAME_BYTES',
    '65536',
    'Largest WebSocket frame (larger: close 1009)',
    int(1024, 16 << 20),
  ),
  maxBodyBytes: spec(
    'P3_MAX_BODY_BYTES',
    '1048576',
    'Largest REST request body (larger: 413)',
    int(1024, 64 << 20),
  ),
  rateLimit: spec('P3_RATE_LIMIT', '50', 'Frames per second per WebSocket connection', int(1, 1_000_000)),
  rateBurst: spec('P3_RATE_BURST', '100', 'Burst of frames per WebSocket connection', int(1, 1_000_000)),
  roomMaxPeers: spec('P3_ROOM_MAX_PEERS', '8', 'Peers per signaling room', int(2, 1000)),
  maxConnectionsPerAddress: spec(
    'P3_MAX_CONNECTIONS_PER_ADDRESS',
    '32',
    'Sockets one address may hold per surface on one node',
    int(1, 100_000),
  ),
  maxConnections: spec(
    'P3_MAX_CONNECTIONS',
    '50000',
    'Sockets per node over all surfaces',
    int(1, 10_000_000),
  ),
  maxUnauthenticatedPerIp: spec(
    'P3_MAX_PENDING_PER_IP',
    '64',
    'Not yet authenticated sockets per remote IP',
    int(1, 1_000_000),
  ),
  headersTimeoutMs: spec(
    'P3_HEADERS_TIMEOUT',
    '10000',
    'Time a client has to send its request headers (slowloris guard, ms)',
    int(500, 600_000),
  ),
  authTimeoutMs: spec(
    'P3_AUTH_TIMEOUT',
    '10000',
    'Time a socket has to authenticate (ms)',
    int(100, 600_000),
  ),
  sendBufferBytes: spec(
    'P3_SEND_BUFFER_BYTES',
    '1048576',
    'Per-socket unsent bytes before a slow reader is dropped',
    int(16 << 10, 1 << 30),
  ),
  inboxMax: spec('P3_INBOX_MAX', '1000', 'Messages kept per offline inbox', int(1, 1_000_000)),
  inboxTtlSec: spec('P3_INBOX_TTL', '604800', 'Lifetime of inbox messages (s)', int(60, 365 * 86400)),
  presenceLeaseMs: spec(
    'P3_PRESENCE_LEASE',
    '30000',
    'Messaging node lease (ms): users of a dead node go offline within this',
    int(300, 3_600_000),
  ),
  typingTimeoutMs: spec(
    'P3_TYPING_TIMEOUT',
    '6000',
    'Typing indicator expiry after the last typing:start (ms)',
    int(100, 600_000),
  ),
  callRingTimeoutMs: spec(
    'P3_CALL_RING_TIMEOUT',
    '30000',
    'Time an unanswered call invite rings before it is missed (ms)',
    int(100, 600_000),
  ),
  callLeftGraceMs: spec(
    'P3_CALL_LEFT_GRACE',
    '30000',
    'An active call ends when every device of one party has left for this long (ms)',
    int(100, 3_600_000),
  ),
  recoveryMs: spec(
    'P3_SIO_RECOVERY',
    '120000',
    'Socket.IO connection-state recovery window (ms; 0: off)',
    int(0, 3_600_000),
  ),
  laneHistory: spec('P3_LANE_HISTORY', '1000', 'Events retained per lane', int(1, 1_000_000)),
  laneHistoryTtlSec: spec(
    'P3_LANE_HISTORY_TTL',
    '86400',
    'Age of retained lane events (s)',
    int(60, 30 * 86400),
  ),
  sessionTtlSec: spec('P3_SESSION_TTL', '86400', 'Lifetime of an SSE session (s)', int(60, 30 * 86400)),
  sseRetryMs: spec(
    'P3_SSE_RETRY',
    '3000',
    'Reconnect delay an SSE stream asks for (retry:, ms)',
    int(0, 600_000),
  ),
  sseKeepAliveMs: spec(
    'P3_SSE_KEEPALIVE',
    '15000',
    'Interval of the comment line on idle SSE streams (ms)',
    int(50, 15_000),
  ),
  receiptsMax: spec('P3_RECEIPTS_MAX', '100000', 'Receipts retained for services', int(1, 100_000_000)),
  receiptsTtlSec: spec('P3_RECEIPTS_TTL', '604800', 'Age of retained receipts (s)', int(60, 365 * 86400)),
  laneEventMaxBytes: spec(
    'P3_LANE_EVENT_BYTES',
    '65536',
    'Largest lane event or receipt data, serialised (bytes; larger: 413)',
    int(256, 16 << 20),
  ),
  pulseTaskTimeoutMs: spec(
    'P3_PULSE_TASK_TIMEOUT',
    '30000',
    'Default deadline of one pulse task attempt (ms)',
    int(100, 86_400_000),
  ),
  pulseMaxAttempts: spec(
    'P3_PULSE_MAX_ATTEMPTS',
    '3',
    'Assignments of a pulse task before it fails',
    int(1, 100),
  ),
  pulseQueueMax: spec('P3_PULSE_QUEUE_MAX', '10000', 'Queued pulse tasks per capability', int(1, 10_000_000)),
  pulseTaskTtlSec: spec(
    'P3_PULSE_TASK_TTL',
    '86400',
    'Pulse tasks are kept this long after their last change (s)',
    int(10, 30 * 86400),
  ),
  pulseMaxNodes: spec('P3_PULSE_MAX_NODES', '10000', 'Pulse nodes in the cluster', int(1, 1_000_000)),
  pulseNodeMaxTasks: spec(
    'P3_PULSE_NODE_MAX_TASKS',
    '16',
    'Tasks a pulse node runs at once unless it registers another maxTasks',
    int(1, 1024),
  ),
  webRoot: spec('P3_WEB_ROOT', '', 'Directory of the web app to serve at / (default: the built one)', optStr),
  logLevel: spec(
    'LOG_LEVEL',
    'info',
    'Log level: fatal, error, warn, info, debug, trace or silent',
    logLevel,
  ),
} as const;

type SpecMap = typeof CONFIG_SPEC;
export type Config = { -readonly [K in keyof SpecMap]: ReturnType<SpecMap[K]['parse']> };

/**
 * Reads and validates the configuration. `overrides` (already typed) win over the
 * environment; tests and embedders pass them instead of touching process.env.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(CONFIG_SPEC) as [keyof Config, Spec<unknown>][]) {
    if (key in overrides) {
      out[key] = overrides[key];
      continue;
    }
    const raw = env[s.env];
    out[key] = s.parse(raw === undefined ? s.default : raw.trim(), s.env);
  }
  const config = out as Config;
  if (!config.siweDomain) config.siweDomain = `localhost:${config.port || 8080}`;
  if (config.heartbeatTimeoutMs <= config.heartbeatIntervalMs && !('heartbeatTimeoutMs' in overrides)) {
    throw new ConfigError('WS_HEARTBEAT_TIMEOUT', 'must be greater than WS_HEARTBEAT_INTERVAL');
  }
  if (config.shards > 1 && !config.redisUrl) {
    throw new ConfigError(
      'P3_SHARDS',
      'more than one shard needs REDIS_URL (shards share state through Redis)',
    );
  }
  if (config.redisUrl && !config.authSecret) {
    throw new ConfigError(
      'P3_AUTH_SECRET',
      'is required when REDIS_URL is set (every node must verify tokens)',
    );
  }
  if (config.turnUrls.length > 0 && !config.turnSecret && !(config.turnUsername && config.turnCredential)) {
    throw new ConfigError('TURN_URLS', 'needs TURN_SECRET or both TURN_USERNAME and TURN_CREDENTIAL');
  }
  if (config.rateBurst < config.rateLimit) {
    throw new ConfigError('P3_RATE_BURST', 'must be at least P3_RATE_LIMIT');
  }
  return config;
}

/** The `--help` text: every variable with its default. */
export function configHelp(): string {
  const rows = Object.values(CONFIG_SPEC).map((s) => [s.env, s.default === '' ? '-' : s.default, s.doc]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.min(24, Math.max(...rows.map((r) => r[1]!.length)));
  return rows.map(([a, b, c]) => `  ${a!.padEnd(w0)}  ${b!.padEnd(w1)}  ${c}`).join('\n');
}
