import type { SignalingRelayType } from '../../protocol/signaling.js';

/**
 * A relay frame (offer, answer, ice: nearly every frame of a call) read straight from its
 * bytes, without `JSON.parse`: no string of the whole frame, no objects of its `data`.
 * It accepts only frames written as the SDK writes them (`JSON.stringify` of
 * `{type, roomId, data}` or `{type, roomId, data, to}`, in that order, no whitespace
 * outside strings) whose `data` the schema accepts, and only when every check can be made
 * on the bytes: a key or `to` with an escape, a known key twice, `__proto__`, a number in
 * a field that must be an integer written other than as digits, or nesting past
 * MAX_DEPTH give `undefined`, and the caller takes the parsing path, which decides (and
 * names the problem). So whatever this accepts, `JSON.parse` and the schema accept too,
 * with the same type, roomId, `to` and data (tested against them in relay-scan.test.ts).
 *
 * ws has already checked that a text frame is valid UTF-8, so bytes ≥ 0x80 inside
 * strings need no look here.
 */
export interface ScannedRelay {
  type: SignalingRelayType;
  roomId: string;
  to: string | undefined;
  /** `data`'s bytes: [dataStart, dataEnd) of the frame. */
  dataStart: number;
  dataEnd: number;
}

/** Deeper `data` than this is left to the parser (it bounds the scanner's recursion). */
export const MAX_DEPTH = 32;

const Q = 0x22; // "
const BS = 0x5c; // \
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

const ascii = (s: string) => Buffer.from(s, 'latin1');
const HEAD = ascii('{"type":"');
const ROOM = ascii('","roomId":"');
const DATA = ascii('","data":');
const TO = ascii(',"to":"');
const TYPES: [Buffer, SignalingRelayType][] = [
  [ascii('ice'), 'ice'],
  [ascii('offer'), 'offer'],
  [ascii('answer'), 'answer'],
];

/** Bytes of a roomId: [A-Za-z0-9_.:-] (isValidRoomId). */
const ROOM_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-')
  ROOM_BYTE[c.charCodeAt(0)] = 1;
/** Bytes that may follow a backslash in a JSON string (u is checked on its own). */
const ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** The keys `data` is checked for; each may appear once. */
enum Key {
  other = 0,
  candidate = 1,
  sdpMid = 2,
  sdpMLineIndex = 4,
  usernameFragment = 8,
  type = 16,
  sdp = 32,
  proto = 64,
}
const KEYS: [Buffer, Key][] = [
  [ascii('candidate'), Key.candidate],
  [ascii('sdpMid'), Key.sdpMid],
  [ascii('sdpMLineIndex'), Key.sdpMLineIndex],
  [ascii('usernameFragment'), Key.usernameFragment],
  [ascii('type'), Key.type],
  [ascii('sdp'), Key.sdp],
  [ascii('__proto__'), Key.proto],
];
const DESCRIPTION_TYPES = ['offer', 'answer', 'pranswer', 'rollback'].map(ascii);

/** Position after the bytes of `word` at `at`, or -1. */
function expect(b: Buffer, at: number, word: Buffer): number {
  if (at + word.length > b.length) return -1;
  for (let i = 0; i < word.length; i++) if (b[at + i] !== word[i]) return -1;
  return at + word.length;
}

/** `b[from, to)` is exactly `word`. */
function equals(b: Buffer, from: number, to: number, word: Buffer): boolean {
  return to - from === word.length && expect(b, from, word) === to;
}

/** Position after a JSON string starting at `at` (its opening quote), or -1. */
function skipString(b: Buffer, at: number): number {
  if (b[at] !== Q) return -1;
  for (let i = at + 1; i < b.length; i++) {
    const c = b[i]!;
    if (c === Q) return i + 1;
    if (c < 0x20) return -1;
    if (c === BS) {
      const e = b[++i];
      if (e === 0x75 /* u */) {
        if (i + 4 >= b.length) return -1;
        if (!(HEX[b[i + 1]!] && HEX[b[i + 2]!] && HEX[b[i + 3]!] && HEX[b[i + 4]!])) return -1;
        i += 4;
      } else if (e === undefined || !ESCAPE[e]) return -1;
    }
  }
  return -1;
}

/** A string without escapes: position after its closing quote, or -1 (escaped or malformed). */
function plainString(b: Buffer, at: number): number {
  if (b[at] !== Q) return -1;
  for (let i = at + 1; i < b.length; i++) {
    const c = b[i]!;
    if (c === Q) return i + 1;
    if (c < 0x20 || c === BS) return -1;
  }
  return -1;
}

const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** Position after a JSON number at `at`, or -1. */
function skipNumber(b: Buffer, at: number): number {
  let i = at;
  if (b[i] === 0x2d /* - */) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === 0x2e /* . */) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45 /* e E */) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

/** A non-negative integer written as plain digits of a safe size: position after it, or -1. */
function plainIndex(b: Buffer, at: number): number {
  let i = at;
  while (isDigit(b[i])) i++;
  const n = i - at;
  // 15 digits are below 2^53; a leading zero, a fraction or an exponent is left to the parser
  if (n === 0 || n > 15 || (n > 1 && b[at] === 0x30) || b[i] === 0x2e || b[i] === 0x65 || b[i] === 0x45)
    return -1;
  return i;
}

const NULL = ascii('null');
const TRUE = ascii('true');
const FALSE = ascii('false');

/** Position after any JSON value at `at` (no whitespace), or -1. */
function skipValue(b: Buffer, at: number, depth: number): number {
  const c = b[at];
  if (c === Q) return skipString(b, at);
  if (c === LBRACE) {
    if (depth >= MAX_DEPTH) return -1;
    let i = at + 1;
    if (b[i] === RBRACE) return i + 1;
    for (;;) {
      i = skipString(b, i);
      if (i < 0 || b[i] !== COLON) return -1;
      i = skipValue(b, i + 1, depth + 1);
      if (i < 0) return -1;
      if (b[i] === RBRACE) return i + 1;
      if (b[i] !== COMMA) return -1;
      i++;
    }
  }
  if (c === LBRACKET) {
    if (depth >= MAX_DEPTH) return -1;
    let i = at + 1;
    if (b[i] === RBRACKET) return i + 1;
    for (;;) {
      i = skipValue(b, i, depth + 1);
      if (i < 0) return -1;
      if (b[i] === RBRACKET) return i + 1;
      if (b[i] !== COMMA) return -1;
      i++;
    }
  }
  if (c === 0x6e) return expect(b, at, NULL);
  if (c === 0x74) return expect(b, at, TRUE);
  if (c === 0x66) return expect(b, at, FALSE);
  return skipNumber(b, at);
}

function keyAt(b: Buffer, from: number, to: number): Key {
  for (const [word, key] of KEYS) if (equals(b, from, to, word)) return key;
  return Key.other;
}

/** A string or `null`: position after it, or -1. */
const stringOrNull = (b: Buffer, at: number) => (b[at] === Q ? skipString(b, at) : expect(b, at, NULL));

/** Checks `data` (an object at `at`) against the type's schema: position after it, or -1. */
function scanData(b: Buffer, at: number, type: SignalingRelayType): number {
  if (b[at] !== LBRACE) return -1;
  let seen = 0;
  let i = at + 1;
  if (b[i] !== RBRACE) {
    for (;;) {
      const keyEnd = plainString(b, i);
      if (keyEnd < 0 || b[keyEnd] !== COLON) return -1;
      const key = keyAt(b, i + 1, keyEnd - 1);
      if (key === Key.proto || (key !== Key.other && seen & key)) return -1;
      seen |= key;
      const v = keyEnd + 1;
      if (type === 'ice') {
        if (key === Key.candidate) i = skipString(b, v);
        else if (key === Key.sdpMid || key === Key.usernameFragment) i = stringOrNull(b, v);
        else if (key === Key.sdpMLineIndex) i = b[v] === 0x6e ? expect(b, v, NULL) : plainIndex(b, v);
        else i = skipValue(b, v, 1);
      } else if (key === Key.type) {
        i = plainString(b, v);
        if (i >= 0 && !DESCRIPTION_TYPES.some((t) => equals(b, v + 1, i - 1, t))) return -1;
      } else if (key === Key.sdp) i = skipString(b, v);
      else i = skipValue(b, v, 1);
      if (i < 0) return -1;
      if (b[i] === RBRACE) break;
      if (b[i] !== COMMA) return -1;
      i++;
    }
  }
  // an offer or answer must say which kind of description it carries
  if (type !== 'ice' && !(seen & Key.type)) return -1;
  return i + 1;
}

/** The one result, reused: read it before the next call (the server is single-threaded). */
const out: ScannedRelay = { type: 'ice', roomId: '', to: undefined, dataStart: 0, dataEnd: 0 };

/** The relay in `b`, or undefined for anything the parsing path must decide (see above). */
export function scanRelay(b: Buffer): ScannedRelay | undefined {
  let i = expect(b, 0, HEAD);
  if (i < 0) return undefined;
  let type: SignalingRelayType | undefined;
  for (const [word, t] of TYPES) {
    const after = expect(b, i, word);
    if (after >= 0 && b[after] === Q) {
      type = t;
      i = after;
      break;
    }
  }
  if (!type) return undefined;
  i = expect(b, i, ROOM);
  if (i < 0) return undefined;
  const roomStart = i;
  while (i < b.length && ROOM_BYTE[b[i]!]) i++;
  const roomEnd = i;
  if (roomEnd === roomStart || roomEnd - roomStart > 128) return undefined;
  i = expect(b, i, DATA);
  if (i < 0) return undefined;
  const dataStart = i;
  const dataEnd = scanData(b, i, type);
  if (dataEnd < 0) return undefined;
  let to: string | undefined;
  i = dataEnd;
  if (b[i] === COMMA) {
    i = expect(b, i, TO);
    if (i < 0) return undefined;
    const toStart = i;
    // a peer id is ASCII (a UUID): 1-64 bytes are 1-64 characters
    while (i < b.length && b[i]! >= 0x20 && b[i]! < 0x80 && b[i] !== Q && b[i] !== BS) i++;
    if (b[i] !== Q || i === toStart || i - toStart > 64) return undefined;
    to = b.toString('latin1', toStart, i);
    i++;
  }
  if (i !== b.length - 1 || b[i] !== RBRACE) return undefined;
  out.type = type;
  out.roomId = b.toString('latin1', roomStart, roomEnd);
  out.to = to;
  out.dataStart = dataStart;
  out.dataEnd = dataEnd;
  return out;
}
