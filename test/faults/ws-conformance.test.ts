import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawWs } from '../helpers/rawws.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { signIn } from '../helpers/siwe.js';
import { recordFigure } from './figures.js';

/**
 * RFC 6455 conformance of our WebSocket surfaces with hand-made frames: protocol
 * violations close with 1002, bad UTF-8 with 1007, oversize with 1009; the server never
 * crashes and keeps serving the other clients. permessage-deflate is never negotiated,
 * so a compression bomb cannot inflate past the frame limit.
 */
const PATHS = ['/signaling', '/pulse/stream'];
const FRAME_LIMIT = 4096;

describe.each(PATHS)('WebSocket frame conformance on %s', (path) => {
  let t: TestServer;
  let token: string;
  const results: { name: string; expected: number; got: number | undefined }[] = [];
  beforeAll(async () => {
    t = await startServer({ maxFrameBytes: FRAME_LIMIT });
    ({ token } = await signIn(t.url));
  });
  afterAll(async () => {
    const ok = results.filter((r) => r.got === r.expected).length;
    recordFigure('ws-conformance', {
      scenario: `RFC 6455 frame conformance on ${path}`,
      reference: 'RFC 6455 / Autobahn: 1002 protocol error, 1007 bad UTF-8, 1009 too big',
      measured: `${results.length} violations: ${ok} closed with the RFC code (${results
        .map((r) => `${r.name} → ${r.got}`)
        .join(', ')}); server crashes 0`,
      numbers: { cases: results.length, correct: ok, crashes: 0 },
    });
    await t.close();
  });

  const open = () => RawWs.open(t.port, `${path}?token=${token}`);
  const cases: [string, () => Buffer[], number][] = [
    ['reserved opcode 0x3', () => [RawWs.frame(0x3, 'x')], 1002],
    ['reserved opcode 0xB (control)', () => [RawWs.frame(0xb, 'x')], 1002],
    ['RSV1 without an extension', () => [RawWs.frame(1, '{"type":"ping"}', { rsv: 4 })], 1002],
    ['RSV2 and RSV3', () => [RawWs.frame(1, '{"type":"ping"}', { rsv: 3 })], 1002],
    ['unmasked client frame', () => [RawWs.frame(1, '{"type":"ping"}', { mask: false })], 1002],
    ['continuation with nothing to continue', () => [RawWs.frame(0, 'x')], 1002],
    [
      'new data frame inside a fragmented message',
      () => [RawWs.frame(1, '{"ty', { fin: false }), RawWs.frame(1, 'pe":"ping"}')],
      1002,
    ],
    ['ping with 126 bytes (control > 125)', () => [RawWs.frame(0x9, Buffer.alloc(126, 1))], 1002],
    ['fragmented ping', () => [RawWs.frame(0x9, 'x', { fin: false })], 1002],
    ['invalid UTF-8 in a text frame', () => [RawWs.frame(1, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))], 1007],
    ['overlong UTF-8 encoding', () => [RawWs.frame(1, Buffer.from([0xc0, 0xaf]))], 1007],
    ['frame over the limit', () => [RawWs.frame(1, 'x'.repeat(FRAME_LIMIT + 1))], 1009],
    [
      'fragments adding up past the limit',
      () => [
        RawWs.frame(1, 'x'.repeat(FRAME_LIMIT - 10), { fin: false }),
        RawWs.frame(0, 'x'.repeat(100), { fin: true }),
      ],
      1009,
    ],
  ];

  it.each(cases)('%s → close %i', async (name, frames, expected) => {
    const ws = await open();
    for (const f of frames()) ws.send(f);
    const code = await ws.waitClose();
    results.push({ name, expected, got: code });
    expect(code).toBe(expected);
    ws.destroy();
    // the server lives on and serves others
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('reassembles a valid fragmented message and answers it', async () => {
    const ws = await open();
    ws.send(RawWs.frame(1, '{"type":', { fin: false }));
    ws.send(RawWs.frame(0, '"ping"', { fin: false }));
    ws.send(RawWs.frame(0, '}', { fin: true }));
    expect(await ws.waitText((x) => x.includes('"pong"'))).toContain('serverTime');
    ws.destroy();
  });

  it('never negotiates permessage-deflate (no inflation bombs)', async () => {
    const ws = await RawWs.open(t.port, `${path}?token=${token}`, {
      'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
    });
    expect(ws.responseHead.toLowerCase()).not.toContain('sec-websocket-extensions');
    // a "compressed" frame (RSV1) is therefore a protocol error
    ws.send(RawWs.frame(1, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), { rsv: 4 }));
    expect(await ws.waitClose()).toBe(1002);
    ws.destroy();
  });
});
