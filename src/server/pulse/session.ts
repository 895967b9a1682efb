import type { PulseTopic } from '../../protocol/pulse.js';
import type { WsConnection } from '../ws/endpoint.js';
import type { NodeRecord } from './keys.js';

/** One pulse connection: a node, a dashboard, or both. */
export interface PulseSession {
  readonly conn: WsConnection;
  /** The node this connection registered (one per connection). */
  node: NodeRecord | undefined;
  readonly topics: Set<PulseTopic>;
  /** taskId → attempt delivered on this connection (bounded by the node's maxTasks, softly). */
  readonly inflight: Map<string, number>;
  /** nodeId → latest metrics frame waiting for this slow subscriber (coalesced). */
  readonly pending: Map<string, string | Buffer>;
}

export function createSession(conn: WsConnection): PulseSession {
  return { conn, node: undefined, topics: new Set(), inflight: new Map(), pending: new Map() };
}
