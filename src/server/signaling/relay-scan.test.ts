import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSignalingFrame } from '../../protocol/signaling.schema.js';
import { MAX_DEPTH, scanRelay } from './relay-scan.js';

const CANDIDATE =
  'candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx raddr 10.0.0.12 rport 54321 generation 0 ufrag 4ZcD';
const scan = (text: string) => scanRelay(Buffer.from(text));

/**
 * What the parsing path makes of a text: the relay it accepts (type, roomId, to and the
 * data it would relay), or undefined. The same rule as the server's: JSON.parse, exactly
 * the keys type, roomId, data (and to), then the schema.
 */
function parsed(text: string) {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = parseSignalingFrame(raw);
  if (!r.ok || !['ice', 'offer', 'answer'].includes(r.frame.type)) return undefined;
  const keys = Object.keys(raw as object);
  const f = r.frame as { type: string; roomId: string; to?: string; data: unknown };
  return { type: f.type, roomId: f.roomId, to: f.to, data: f.data, keys };
}

/** scanRelay's answer must be the parsing path's, with the data bytes parsing to the checked data. */
function agrees(text: string): boolean {
  const s = scan(text);
  if (!s) return false;
  const p = parsed(text);
  expect(p, `scanned but the parsing path refuses: ${text}`).toBeDefined();
  expect(p!.keys).toEqual(s.to === undefined ? ['type', 'roomId', 'data'] : ['type', 'roomId', 'data', 'to']);
  expect({ type: s.type, roomId: s.roomId, to: s.to }).toEqual({
    type: p!.type,
    roomId: p!.roomId,
    to: p!.to,
  });
  const bytes = Buffer.from(text).subarray(s.dataStart, s.dataEnd).toString('utf8');
  // nothing the schema drops or converts: the relayed bytes are the checked data
  expect(JSON.parse(bytes)).toEqual(p!.data);
  return true;
}

describe('scanRelay', () => {
  it('reads the frames the SDK writes', () => {
    const frames = [
      { type: 'ice', roomId: 'r1', data: { candidate: CANDIDATE, sdpMid: '0', sdpMLineIndex: 0 } },
      {
        type: 'ice',
        roomId: 'room:1',
        data: { candidate: '', sdpMid: null, sdpMLineIndex: null },
        to: 'p-2',
      },
      { type: 'ice', roomId: 'r', data: { candidate: CANDIDATE, usernameFragment: 'u\u00e9"x' } },
      { type: 'offer', roomId: 'a.b_c-d', data: { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n' } },
      { type: 'answer', roomId: 'x', data: { type: 'answer', sdp: 'v=0' }, to: 'a'.repeat(64) },
      { type: 'offer', roomId: 'x', data: { type: 'rollback' } },
      { type: 'ice', roomId: 'x', data: {} },
      { type: 'ice', roomId: 'x', data: { extra: [1, -2.5e-3, true, false, null, { a: [[]] }, 'a\\b'] } },
    ];
    for (const f of frames) expect(agrees(JSON.stringify(f)), JSON.stringify(f)).toBe(true);
  });

  it.each([
    ['whitespace', '{"type": "ice","roomId":"r","data":{}}'],
    ['another key order', '{"roomId":"r","type":"ice","data":{}}'],
    ['a key more', '{"type":"ice","roomId":"r","data":{},"x":1}'],
    ['not a relay', '{"type":"join","roomId":"r"}'],
    ['a roomId outside the alphabet', '{"type":"ice","roomId":"a b","data":{}}'],
    ['a roomId of 129', `{"type":"ice","roomId":"${'r'.repeat(129)}","data":{}}`],
    ['an empty roomId', '{"type":"ice","roomId":"","data":{}}'],
    ['an own __proto__', '{"type":"offer","roomId":"r","data":{"type":"offer","__proto__":{}}}'],
    ['a known key twice', '{"type":"ice","roomId":"r","data":{"candidate":"a","candidate":"b"}}'],
    ['an escaped key', '{"type":"ice","roomId":"r","data":{"c\\u0061ndidate":1}}'],
    ['an index written with an exponent', '{"type":"ice","roomId":"r","data":{"sdpMLineIndex":1e2}}'],
    ['a negative index', '{"type":"ice","roomId":"r","data":{"sdpMLineIndex":-1}}'],
    ['a fractional index', '{"type":"ice","roomId":"r","data":{"sdpMLineIndex":1.5}}'],
    ['an index of 16 digits', '{"type":"ice","roomId":"r","data":{"sdpMLineIndex":1234567890123456}}'],
    ['a null candidate', '{"type":"ice","roomId":"r","data":{"candidate":null}}'],
    ['an offer with no type', '{"type":"offer","roomId":"r","data":{"sdp":"v=0"}}'],
    ['an unknown description type', '{"type":"offer","roomId":"r","data":{"type":"nope"}}'],
    ['an empty to', '{"type":"ice","roomId":"r","data":{},"to":""}'],
    ['a to of 65', `{"type":"ice","roomId":"r","data":{},"to":"${'a'.repeat(65)}"}`],
    ['a non-ASCII to', '{"type":"ice","roomId":"r","data":{},"to":"\u00e9"}'],
    ['an escaped to', '{"type":"ice","roomId":"r","data":{},"to":"a\\"b"}'],
    ['a control character in a string', '{"type":"ice","roomId":"r","data":{"candidate":"a\u0001"}}'],
    ['an unknown escape', '{"type":"ice","roomId":"r","data":{"x":"\\q"}}'],
    ['a short \\u escape', '{"type":"ice","roomId":"r","data":{"x":"\\u12"}}'],
    ['a leading zero', '{"type":"ice","roomId":"r","data":{"x":01}}'],
    ['a bare minus', '{"type":"ice","roomId":"r","data":{"x":-}}'],
    ['a trailing comma', '{"type":"ice","roomId":"r","data":{"x":1,}}'],
    ['trailing bytes', '{"type":"ice","roomId":"r","data":{}}x'],
    ['a truncated frame', '{"type":"ice","roomId":"r","data":{"candidate":"ab'],
    ['data that is no object', '{"type":"ice","roomId":"r","data":[]}'],
    [
      'nesting past the bound',
      `{"type":"ice","roomId":"r","data":{"x":${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}}}`,
    ],
  ])('leaves %s to the parsing path', (_what, text) => {
    expect(scan(text)).toBeUndefined();
  });

  it('accepts nothing the parsing path refuses, and reads the same relay (mutated SDK frames)', () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.string({ maxLength: 6 }),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 3 }),
      ),
    })).value;
    const maybe = <T>(a: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: a, weight: 6 }, { arbitrary: json, weight: 1 });
    const data = fc.record(
      {
        type: maybe(fc.constantFrom('offer', 'answer', 'pranswer', 'rollback')),
        sdp: maybe(fc.string({ maxLength: 8 })),
        candidate: maybe(fc.constantFrom(CANDIDATE, '')),
        sdpMid: maybe(fc.constantFrom('0', null)),
        sdpMLineIndex: maybe(fc.oneof(fc.nat(), fc.constant(null))),
        usernameFragment: maybe(fc.string({ maxLength: 3 })),
        other: json,
      },
      { requiredKeys: [] },
    );
    const frame = fc.tuple(
      fc.constantFrom('ice', 'ice', 'offer', 'answer', 'join'),
      fc.constantFrom('r1', 'room:1', 'r1', 'bad room'),
      data,
      fc.option(fc.constantFrom('peer-2', ''), { nil: undefined }),
    );
    // edits at random places: the characters that matter to JSON and to the scanner
    const edit = fc.tuple(
      fc.nat(),
      fc.constantFrom('delete', 'insert', 'replace'),
      fc.constantFrom(
        '"',
        '\\',
        '{',
        '}',
        '[',
        ']',
        ',',
        ':',
        ' ',
        '0',
        '-',
        'e',
        '.',
        'u',
        'n',
        '\u0001',
        '\u00e9',
      ),
    );
    let scanned = 0;
    fc.assert(
      fc.property(frame, fc.array(edit, { maxLength: 3 }), ([type, roomId, d, to], edits) => {
        let text = JSON.stringify(
          to === undefined ? { type, roomId, data: d } : { type, roomId, data: d, to },
        );
        for (const [at, op, ch] of edits) {
          const i = at % (text.length + 1);
          if (op === 'delete') text = text.slice(0, i) + text.slice(i + 1);
          else if (op === 'insert') text = text.slice(0, i) + ch + text.slice(i);
          else text = text.slice(0, i) + ch + text.slice(i + 1);
        }
        if (agrees(text)) scanned++;
      }),
      { numRuns: 20_000 },
    );
    // the property is about accepted frames: make sure there were plenty
    expect(scanned).toBeGreaterThan(1_000);
  });
});
