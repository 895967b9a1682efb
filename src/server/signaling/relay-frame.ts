import type { SignalingRelayType } from '../../protocol/signaling.js';

/** A relayed frame: serialised text, or the same text as UTF-8 bytes. */
export type RelayText = string | Buffer;

const CLOSE = 0x7d; // '}'

/**
 * The relayed frame `{"type","roomId","from","fromAddress","data"}` built around the bytes
 * of `data` as the sender sent them, without serialising it again: the SDK (and any client
 * that writes the fields in the protocol's order) sends `{"type":…,"roomId":…,"data":{…}}`
 * or the same with `,"to":…` last. Anything else (another order, spaces, escapes) returns
 * undefined and the caller serialises the parsed frame.
 *
 * The caller has parsed `raw` and checked that it holds only `type`, `roomId`, `data` and
 * `to` (so nothing of the sender's can pose as `from`); `type`, `roomId` and `to` are the
 * parsed, validated values (a roomId is [A-Za-z0-9_.:-]), so the bytes around `data` match
 * them only if the sender wrote exactly these. A key the sender wrote twice stays in `data`'s
 * place as sent, after it: JSON.parse takes the last one, as the server did.
 */
export function spliceRelay(
  raw: Buffer,
  type: SignalingRelayType,
  roomId: string,
  to: string | undefined,
  from: string,
  fromAddress: string,
): Buffer | undefined {
  const head = `{"type":"${type}","roomId":"${roomId}","data":`;
  const tail = to === undefined ? '}' : `,"to":${JSON.stringify(to)}}`;
  const end = raw.length - tail.length;
  if (end <= head.length) return undefined;
  // latin1 reads each byte as one char: a non-ASCII byte never equals the ASCII we expect
  if (raw.toString('latin1', 0, head.length) !== head || raw.toString('latin1', end) !== tail)
    return undefined;
  const out = `{"type":"${type}","roomId":"${roomId}","from":"${from}","fromAddress":"${fromAddress}","data":`;
  const frame = Buffer.allocUnsafe(out.length + (end - head.length) + 1);
  frame.write(out, 0, 'latin1');
  raw.copy(frame, out.length, head.length, end);
  frame[frame.length - 1] = CLOSE;
  return frame;
}

/** The text of a relayed frame, for the bus and for a joining peer's backlog (rare paths). */
export const relayString = (frame: RelayText): string =>
  typeof frame === 'string' ? frame : frame.toString();
