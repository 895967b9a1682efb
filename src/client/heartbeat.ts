/**
 * Client heartbeat with pong-timeout detection. A half-open TCP connection (laptop sleep,
 * a NAT that forgot the mapping, a dead proxy) never fires `close`: the only way to notice
 * is to ask and not hear back. Any received frame counts as an answer, so a busy
 * connection is never mistaken for a dead one.
 */
export interface HeartbeatOptions {
  /** Ping period (ms); the protocol asks for at most one per 30 s. @default 30000 */
  intervalMs?: number;
  /** Silence after a ping that marks the connection dead (ms). @default 10000 */
  timeoutMs?: number;
  /** The ping frame. @default '{"type":"ping"}' */
  ping?: string;
}

export interface Heartbeat {
  /** Something arrived: the connection is alive. */
  heard(): void;
  stop(): void;
}

export function startHeartbeat(
  options: HeartbeatOptions,
  send: (frame: string) => void,
  onDead: () => void,
): Heartbeat {
  const ping = options.ping ?? '{"type":"ping"}';
  const timeoutMs = options.timeoutMs ?? 10_000;
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const interval = setInterval(() => {
    send(ping);
    deadline ??= setTimeout(onDead, timeoutMs);
  }, options.intervalMs ?? 30_000);
  return {
    heard() {
      clearTimeout(deadline);
      deadline = undefined;
    },
    stop() {
      clearInterval(interval);
      clearTimeout(deadline);
    },
  };
}
