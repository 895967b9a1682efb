import type { SignalingRelayType } from '../../protocol/signaling.js';

/**
 * A relayed frame `{"type","roomId","from","fromAddress","data"}`: text when the server
 * serialised it (or another node sent it), bytes when it was built from the sender's bytes.
 */
export type RelayFrame = string | Buffer;

const TYPE_HEADS: Record<SignalingRelayType, string> = {
  ice: '{"type":"ice',
  offer: '{"type":"offer',
  answer: '{"type":"answer',
};

/**
 * The relayed frame's bytes: the type, `head` (`","roomId":…,"data":`, ASCII: the roomId
 * alphabet, a peer id and an address) and the sender's bytes of `data` (`raw[start, end)`)
 * copied as they are. No string of the frame is made, and ws sends the bytes as they are
 * (a string it would measure, then encode, on every send).
 *
 * `data` reaches the peer exactly as sent (number formatting, escapes, key order), as it
 * did when the frame was built around the sender's text.
 *
 * The buffer is a slice of Node's shared pool: it costs no allocation of its own, but while
 * it is kept it keeps its 8 KiB pool block alive. A frame that waits (a backlog, a socket
 * with unsent bytes) is kept as its own copy instead (see `keepable`). What remains: a
 * write the kernel takes only in part keeps its slice until the rest is sent (one block
 * per stalled socket: every later frame to it is a copy), and a relay to a peer the node
 * must look up keeps its slice for that round trip (one per peer at a time).
 */
export function relayBytes(
  type: SignalingRelayType,
  head: string,
  raw: Buffer,
  start: number,
  end: number,
): Buffer {
  const typeHead = TYPE_HEADS[type];
  const out = Buffer.allocUnsafe(typeHead.length + head.length + (end - start) + 1);
  let at = out.write(typeHead, 0, 'latin1');
  at += out.write(head, at, 'latin1');
  at += raw.copy(out, at, start, end);
  out[at] = 0x7d; // }
  return out;
}

/** The frame as text (the bus between nodes carries text). */
export const textOf = (frame: RelayFrame): string =>
  typeof frame === 'string' ? frame : frame.toString('utf8');

/**
 * The frame in a form that may wait in a socket's send queue: a pooled buffer is copied
 * into one of its own, so a slow reader holds its frames' bytes and not a pool block each.
 */
export function keepable(frame: RelayFrame): RelayFrame {
  if (typeof frame === 'string') return frame;
  const own = Buffer.allocUnsafeSlow(frame.length);
  frame.copy(own);
  return own;
}
