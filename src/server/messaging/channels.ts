import { createHash } from 'node:crypto';
import { BackendMessageSchema, parsePayload } from '../../protocol/messaging.schema.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Delivery } from './delivery.js';
import type { MsgServer } from './transport.js';

export const BROADCAST_CHANNEL = 'p3:broadcast';
export const MESSAGES_CHANNEL = 'p3:messages';
/** Identical backend messages published within this window are one message. */
const BACKEND_DEDUPE_MS = 60_000;

/**
 * The seed's Redis channels as an integration surface for other services:
 * - `p3:broadcast`: any JSON (or text) → `system:announcement` to every client. Every
 *   node is subscribed, so each emits to its own sockets only (`io.local`).
 * - `p3:messages`: `{ from, to, content, encrypted? }` → a direct message as if sent by
 *   `from`. Every node receives each publication, so the nodes race for a claim on the
 *   payload's hash and exactly one of them stores and delivers it.
 */
export async function subscribeChannels(deps: {
  engine: Engine;
  io: MsgServer;
  delivery: Delivery;
  logger: Logger;
  metrics: Metrics;
}): Promise<() => Promise<void>> {
  const { engine, io, delivery, logger } = deps;
  const received = deps.metrics.counter('p3_messaging_channel_messages_total', 'Redis channel messages', [
    'channel',
    'result',
  ]);

  const offBroadcast = await engine.subscribe(BROADCAST_CHANNEL, (raw) => {
    let data: unknown = raw;
    try {
      data = JSON.parse(raw);
    } catch {
      // not JSON: announce the text as it is
    }
    received.inc({ channel: BROADCAST_CHANNEL, result: 'ok' });
    io.local.emit('system:announcement', data);
  });

  const offMessages = await engine.subscribe(MESSAGES_CHANNEL, (raw) => {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const parsed = parsePayload(BackendMessageSchema, body);
    if (!parsed.ok) {
      received.inc({ channel: MESSAGES_CHANNEL, result: 'invalid' });
      logger.warn({ error: parsed.error.message }, 'p3:messages: ignored an invalid message');
      return;
    }
    const { from, to, content, encrypted } = parsed.data;
    const clientMsgId = `p3:messages:${createHash('sha256').update(raw).digest('base64url')}`;
    delivery
      .send(
        from,
        { to, content, encrypted, clientMsgId },
        { source: 'backend', claimTtlMs: BACKEND_DEDUPE_MS, redeliver: false },
      )
      .then((answer) => {
        const result = answer.ok ? (answer.duplicate ? 'other_node' : 'ok') : answer.error.code;
        received.inc({ channel: MESSAGES_CHANNEL, result });
      })
      .catch((e) => logger.warn({ err: e }, 'p3:messages: could not store a message'));
  });

  return async () => {
    await Promise.allSettled([offBroadcast(), offMessages()]);
  };
}
