import type { SignalingRelayType } from '../../protocol/signaling.js';

/**
 * The relayed frame `{"type","roomId","from","fromAddress","data"}` built around the text
 * of `data` as the sender sent it, without serialising it again: the SDK (and any client
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
): string | undefined {
  const head = `{"type":"${type}","roomId":"${roomId}","data":`;
  const tail = to === undefined ? '}' : `,"to":${JSON.stringify(to)}}`;
  const end = raw.length - tail.length;
  if (end <= head.length) return undefined;
  // latin1 reads each byte as one char: a non-ASCII byte never equals the ASCII we expect
  if (raw.toString('latin1', 0, head.length) !== head || raw.toString('latin1', end) !== tail)
    return undefined;
  return `{"type":"${type}","roomId":"${roomId}","from":"${from}","fromAddress":"${fromAddress}","data":${raw.toString('utf8', head.length, end)}}`;
}
