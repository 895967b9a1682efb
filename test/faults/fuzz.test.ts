import fc from 'fast-check';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseMuxId } from '../../src/protocol/lanes.js';
import { publishBodySchema, receiptsBodySchema } from '../../src/protocol/lanes.schema.js';
import {
  CallEndSchema,
  CallInviteSchema,
  CallRoomSchema,
  MessageAckSchema,
  MessageReadSchema,
  MessageSendSchema,
  PresenceSetSchema,
  PresenceSubscribeSchema,
  parsePayload,
  TypingSchema,
} from '../../src/protocol/messaging.schema.js';
import {
  PulseAuthFrameSchema,
  PulseClientFrameSchema,
  SubmitTaskSchema,
} from '../../src/protocol/pulse.schema.js';
import { parseSignalingFrame, SignalingAuthFrameSchema } from '../../src/protocol/signaling.schema.js';
import { createSiweVerifier, SiweError } from '../../src/server/auth/siwe.js';
import { createMemoryEngine } from '../../src/server/engine/index.js';
import { createSession } from '../helpers/lanes.js';
import { startServer, TEST_DOMAIN, TEST_SERVICE_KEY, type TestServer, waitFor } from '../helpers/server.js';
import { newAccount, signIn, siweMessage } from '../helpers/siwe.js';
import { FULL, recordFigure, scale } from './figures.js';

/**
 * Fuzzing (fast-check) of every frame and body parser: the protocol validators directly
 * (the bulk of the inputs) and, through real sockets and HTTP, a real in-process server.
 * A crash is a validator that throws instead of answering, an HTTP 5xx, a socket the
 * server drops for bad input, or an uncaught exception / unhandled rejection in this
 * process (which hosts the server).
 */
const TOTAL = scale(3_000, 100_000);
// a tenth (a fifth in the short form) goes through the real server, the rest to the validators
const WIRE = scale(600, 10_000);
const PER = Math.floor(WIRE / 6);
const HTTP_PER = Math.floor(PER / 2);
// sign-in is rate limited per IP (20/s, bursts of 60): fewer bodies through the server
const VERIFY_WIRE = Math.min(PER, scale(40, 400));
const WIRE_TOTAL = 3 * PER + 3 * HTTP_PER + VERIFY_WIRE;
const DIRECT = TOTAL - WIRE_TOTAL;

const addr = newAccount().address;
const roomIds = fc.oneof(
  fc.constantFrom('r1', 'room.a:b-c_d', '', 'x'.repeat(129), '../etc', 'ü', 'a b'),
  fc.string({ maxLength: 140 }),
);
const anyValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, Number.NaN, Infinity, -0, 2 ** 64, '', '\u0000') },
);
const sdp = fc.record(
  {
    type: fc.oneof(fc.constantFrom('offer', 'answer', 'pranswer', 'rollback'), anyValue),
    sdp: fc.oneof(fc.string({ maxLength: 200 }), anyValue),
    candidate: fc.oneof(fc.string({ maxLength: 100 }), anyValue),
    sdpMid: fc.oneof(fc.string({ maxLength: 10 }), fc.constant(null), anyValue),
    sdpMLineIndex: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constant(null), anyValue),
  },
  { requiredKeys: [] },
);
const stats = fc.record(
  {
    rtt: fc.oneof(fc.double(), anyValue),
    jitter: fc.oneof(fc.double(), anyValue),
    packetLoss: fc.oneof(fc.double(), anyValue),
    bitrate: fc.oneof(fc.double(), anyValue),
    codec: fc.oneof(fc.string({ maxLength: 80 }), anyValue),
    iceState: fc.oneof(fc.string({ maxLength: 40 }), anyValue),
    timestamp: fc.oneof(fc.double(), anyValue),
  },
  { requiredKeys: [] },
);

/** Signaling frames: near-valid shapes (every type, fields mutated) and arbitrary JSON. */
const signalingFrame = fc.oneof(
  fc.record(
    {
      type: fc.oneof(
        fc.constantFrom(
          'join',
          'offer',
          'answer',
          'ice',
          'end',
          'leave',
          'stats',
          'heartbeat',
          'ping',
          'auth',
        ),
        anyValue,
      ),
      roomId: fc.oneof(roomIds, anyValue),
      data: fc.oneof(sdp, stats, anyValue),
      to: fc.oneof(fc.string({ maxLength: 70 }), anyValue),
      token: fc.oneof(fc.string({ maxLength: 50 }), anyValue),
      message: fc.oneof(fc.string({ maxLength: 50 }), anyValue),
      signature: fc.oneof(fc.string({ maxLength: 50 }), anyValue),
      constructor: anyValue,
    },
    { requiredKeys: [] },
  ),
  anyValue,
);

const name = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/), fc.string({ maxLength: 140 }), anyValue);
/** Pulse frames `{ type, data }`. */
const pulseFrame = fc.oneof(
  fc.record(
    {
      type: fc.oneof(
        fc.constantFrom('auth', 'register', 'metrics', 'subscribe', 'unsubscribe', 'task:result', 'ping'),
        anyValue,
      ),
      data: fc.oneof(
        fc.record(
          {
            nodeId: name,
            capabilities: fc.oneof(fc.array(name, { maxLength: 40 }), anyValue),
            region: fc.oneof(fc.string({ maxLength: 70 }), anyValue),
            version: fc.oneof(fc.string({ maxLength: 70 }), anyValue),
            maxTasks: fc.oneof(fc.integer({ min: -5, max: 2000 }), anyValue),
            topics: fc.oneof(
              fc.array(fc.constantFrom('nodes', 'metrics', 'tasks', 'x'), { maxLength: 5 }),
              anyValue,
            ),
            taskId: fc.oneof(fc.string({ maxLength: 140 }), anyValue),
            ok: anyValue,
            result: anyValue,
            error: fc.oneof(fc.string({ maxLength: 100 }), anyValue),
            token: fc.oneof(fc.string({ maxLength: 50 }), anyValue),
          },
          { requiredKeys: [] },
        ),
        fc.dictionary(fc.string({ maxLength: 70 }), fc.oneof(fc.double(), anyValue), { maxKeys: 70 }),
        anyValue,
      ),
    },
    { requiredKeys: [] },
  ),
  anyValue,
);

const address = fc.oneof(
  fc.constant(addr),
  fc.constant(addr.toLowerCase()),
  fc.stringMatching(/^0x[0-9a-fA-F]{38,42}$/),
  fc.string({ maxLength: 50 }),
  anyValue,
);
const messageIds = fc.oneof(
  fc.array(fc.oneof(fc.stringMatching(/^\d{1,17}-\d{1,17}$/), fc.string({ maxLength: 20 }), anyValue), {
    maxLength: 20,
  }),
  anyValue,
);
/** Socket.IO event payloads (messaging). */
const messagingPayload = fc.oneof(
  fc.record(
    {
      to: address,
      from: address,
      content: fc.oneof(fc.string({ maxLength: 300 }), anyValue),
      encrypted: anyValue,
      clientMsgId: fc.oneof(fc.string({ maxLength: 140 }), anyValue),
      ids: messageIds,
      status: fc.oneof(fc.constantFrom('online', 'away', 'busy', 'offline'), anyValue),
      addresses: fc.oneof(fc.array(address, { maxLength: 5 }), anyValue),
      conversationId: address,
      roomId: fc.oneof(roomIds, anyValue),
      media: fc.oneof(fc.constantFrom('audio', 'video'), anyValue),
      reason: fc.oneof(fc.string({ maxLength: 80 }), anyValue),
    },
    { requiredKeys: [] },
  ),
  anyValue,
);
const messagingSchemas = {
  'message:send': MessageSendSchema,
  'message:ack': MessageAckSchema,
  'message:read': MessageReadSchema,
  'presence:update': PresenceSetSchema,
  'presence:subscribe': PresenceSubscribeSchema,
  'presence:unsubscribe': PresenceSubscribeSchema,
  'typing:start': TypingSchema,
  'typing:stop': TypingSchema,
  'call:invite': CallInviteSchema,
  'call:accepted': CallRoomSchema,
  'call:rejected': CallEndSchema,
  'call:ended': CallEndSchema,
} as const;
const messagingEvents = Object.keys(messagingSchemas) as (keyof typeof messagingSchemas)[];

const sseString = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.constantFrom('ready', 'lost', 'expired', 'a\nid: 1', 'a\r', 'a\u0000b', ''),
);
const laneEvent = fc.record(
  { type: fc.oneof(sseString, anyValue), data: anyValue, id: fc.oneof(sseString, anyValue) },
  { requiredKeys: [] },
);
/** Lane publish and receipt bodies: one event, an array, or anything. */
const laneBody = fc.oneof(laneEvent, fc.array(laneEvent, { maxLength: 8 }), anyValue);
const taskBody = fc.oneof(
  fc.record(
    {
      kind: name,
      payload: anyValue,
      capability: name,
      timeoutMs: fc.oneof(fc.integer({ min: -10, max: 2 * 86_400_000 }), anyValue),
      maxAttempts: fc.oneof(fc.integer({ min: -1, max: 200 }), anyValue),
    },
    { requiredKeys: [] },
  ),
  anyValue,
);
const template = siweMessage(newAccount(), 'abcdefghijklmnop1234');
/** Auth verify bodies: real SIWE messages mutated, random text, wrong types. */
const verifyBody = fc.oneof(
  fc.record(
    {
      message: fc.oneof(
        fc.string({ maxLength: 400 }),
        fc.tuple(fc.nat({ max: 400 }), fc.string({ maxLength: 20 })).map(([at, s]) => {
          const m = template;
          const i = at % m.length;
          return m.slice(0, i) + s + m.slice(i + 1);
        }),
        anyValue,
      ),
      signature: fc.oneof(
        fc.stringMatching(/^0x[0-9a-fA-F]{128,132}$/),
        fc.string({ maxLength: 140 }),
        anyValue,
      ),
    },
    { requiredKeys: [] },
  ),
  anyValue,
);
/** Bodies as bytes: JSON of the shapes above, or raw text that is not JSON at all. */
const rawText = (shape: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 4, arbitrary: shape.map((v) => JSON.stringify(v) ?? 'undefined') },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('{', '[', '{"type":', 'null', '""', '1e999', '{"__proto__":{"x":1}}'),
    },
  );

describe('fuzzing every frame and body parser', () => {
  let t: TestServer;
  let uncaught = 0;
  let unhandled = 0;
  const onUncaught = () => {
    uncaught++;
  };
  const onUnhandled = () => {
    unhandled++;
  };
  const figures: Record<string, number> = {};
  const crashes: string[] = [];
  let directCrashes = 0;
  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
    // no rate limit: every fuzzed frame reaches the parser rather than the token bucket
    t = await startServer({ rateLimit: 1_000_000, rateBurst: 1_000_000 });
  });
  afterAll(async () => {
    await t?.close();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
  });

  it('validators: every input answered, none thrown', async () => {
    const each = Math.floor(DIRECT / 8);
    const last = DIRECT - 7 * each;
    const run = <T>(what: string, arb: fc.Arbitrary<T>, check: (v: T) => void, n = each) => {
      fc.assert(
        fc.property(arb, (v) => {
          try {
            check(v);
          } catch (error) {
            crashes.push(
              `${what}: ${(error as Error).message} on ${String(JSON.stringify(v)).slice(0, 200)}`,
            );
          }
          return true;
        }),
        { numRuns: n },
      );
      figures[`direct_${what}`] = n;
    };
    run('signaling', signalingFrame, (v) => {
      const r = parseSignalingFrame(v ?? {});
      if (typeof r.ok !== 'boolean') throw new Error('no verdict');
      SignalingAuthFrameSchema.safeParse(v);
    });
    run('pulse', pulseFrame, (v) => {
      PulseClientFrameSchema.safeParse(v);
      PulseAuthFrameSchema.safeParse(v);
    });
    run('messaging', fc.tuple(fc.constantFrom(...messagingEvents), messagingPayload), ([event, p]) => {
      const r = parsePayload(messagingSchemas[event], p);
      if (!r.ok && r.error.code !== 'bad_request') throw new Error(`code ${r.error.code}`);
    });
    run('lanes_publish', laneBody, (v) => {
      publishBodySchema.safeParse(v);
    });
    run('lanes_receipts', laneBody, (v) => {
      receiptsBodySchema.safeParse(v);
    });
    run(
      'lanes_ids',
      fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[mac]:\d+-\d+(,[mac]:\d+-\d+){0,3}$/)),
      (v) => {
        parseMuxId(v);
      },
    );
    run('pulse_tasks', taskBody, (v) => {
      SubmitTaskSchema.safeParse(v);
    });
    // the SIWE verifier: everything it refuses must be a SiweError (a 401), nothing else
    const siwe = createSiweVerifier({ engine: createMemoryEngine(), domain: TEST_DOMAIN });
    const bodies = fc.sample(verifyBody, last) as { message?: unknown; signature?: unknown }[];
    for (const b of bodies) {
      const body = b !== null && typeof b === 'object' ? b : {};
      try {
        await siwe.verify(body.message, body.signature);
        crashes.push(`siwe accepted ${JSON.stringify(body).slice(0, 200)}`);
      } catch (error) {
        if (!(error instanceof SiweError))
          crashes.push(`siwe threw ${(error as Error).name}: ${(error as Error).message}`);
      }
    }
    figures.direct_auth_verify = bodies.length;
    directCrashes = crashes.length;
    expect(crashes).toEqual([]);
  }, 300_000);

  it('the real server: sockets stay open, HTTP answers 4xx, nothing uncaught', async () => {
    const user = await signIn(t.url);
    const per = PER;
    let wireCrashes = 0;
    const note = (what: string) => {
      wireCrashes++;
      if (crashes.length < 20) crashes.push(what);
    };

    // signaling: raw text frames (JSON shapes and garbage) on an authenticated socket
    const wsFuzz = async (path: string, frames: string[], probe: string, answer: string) => {
      const ws = new WebSocket(`${t.wsUrl}${path}?token=${encodeURIComponent(user.token)}`);
      const texts: string[] = [];
      let closed: number | undefined;
      ws.on('message', (d) => texts.push(String(d)));
      ws.on('close', (code) => {
        closed = code;
      });
      ws.on('error', () => {});
      await waitFor(() => texts.some((x) => x.includes('auth_ok')) || closed !== undefined, {
        what: 'auth_ok',
      });
      for (let i = 0; i < frames.length; i++) {
        ws.send(frames[i]!);
        // round trip every 100 frames: the server is still parsing, and has not closed us
        if (i % 100 === 99 || i === frames.length - 1) {
          const before = texts.length;
          ws.send(probe);
          await waitFor(() => texts.slice(before).some((x) => x.includes(answer)) || closed !== undefined, {
            timeoutMs: 10_000,
            what: `${path} ${answer}`,
          }).catch(() => undefined);
          if (closed !== undefined || !texts.slice(before).some((x) => x.includes(answer))) {
            note(`${path}: closed (${closed}) or unanswered after ${frames[i]!.slice(0, 200)}`);
            break;
          }
        }
      }
      ws.close();
    };
    const sig = fc.sample(rawText(signalingFrame), per);
    await wsFuzz('/signaling', sig, '{"type":"ping"}', 'pong');
    figures.wire_signaling = sig.length;
    const pul = fc.sample(rawText(pulseFrame), per);
    await wsFuzz('/pulse/stream', pul, '{"type":"ping"}', 'pong');
    figures.wire_pulse = pul.length;

    // Socket.IO: fuzzed payloads on every event, with and without an ack callback
    const socket: Socket = io(t.url, {
      auth: { token: user.token },
      transports: ['websocket'],
      reconnection: false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    let disconnected = '';
    socket.on('disconnect', (reason) => {
      disconnected = reason;
    });
    const sio = fc.sample(fc.tuple(fc.constantFrom(...messagingEvents), messagingPayload, fc.boolean()), per);
    for (let i = 0; i < sio.length; i++) {
      const [event, payload, withAck] = sio[i]!;
      if (withAck) {
        const ack = await socket
          .timeout(5_000)
          .emitWithAck(event, payload)
          .catch(() => undefined);
        if (ack === undefined && !disconnected)
          note(`socket.io ${event}: no ack for ${JSON.stringify(payload)?.slice(0, 200)}`);
      } else {
        socket.emit(event, payload);
      }
      if (disconnected) {
        note(`socket.io dropped (${disconnected}) after ${event} ${JSON.stringify(payload)?.slice(0, 200)}`);
        break;
      }
    }
    const alive = await socket
      .timeout(5_000)
      .emitWithAck('presence:subscribe', { addresses: [user.address] })
      .catch(() => undefined);
    if (!alive?.ok) note('socket.io: no answer after the fuzz');
    socket.close();
    figures.wire_socketio = sio.length;

    // HTTP bodies: lanes publish (service key), receipts (owner), tasks (service key), verify
    const sid = await createSession(t.url, user.token);
    const post = async (path: string, body: string, auth?: string, ok: number[] = []) => {
      const res = await fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body,
      });
      await res.arrayBuffer();
      if (res.status >= 500 || !(ok.includes(res.status) || (res.status >= 400 && res.status < 500))) {
        note(`${path}: ${res.status} for ${body.slice(0, 200)}`);
      }
    };
    const http: [string, fc.Arbitrary<string>, string | undefined, number[]][] = [
      [`/v1/session/${sid}/lane/catalog/events`, rawText(laneBody), TEST_SERVICE_KEY, [200]],
      [`/v1/session/${sid}/lane/receipts`, rawText(laneBody), user.token, [202]],
      ['/v1/pulse/tasks', rawText(taskBody), TEST_SERVICE_KEY, [202]],
    ];
    for (const [path, arb, auth, ok] of http) {
      const bodies = fc.sample(arb, HTTP_PER);
      for (let i = 0; i < bodies.length; i += 8) {
        await Promise.all(bodies.slice(i, i + 8).map((b) => post(path, b, auth, ok)));
      }
      figures[`wire_${path.split('/').at(-1)}`] = bodies.length;
    }
    // each retried past a 429 of the per-IP sign-in limit
    const verifies = fc.sample(rawText(verifyBody), VERIFY_WIRE);
    for (const body of verifies) {
      for (;;) {
        const res = await fetch(`${t.url}/v1/auth/verify`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        await res.arrayBuffer();
        if (res.status === 429) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        if (res.status !== 400 && res.status !== 401)
          note(`/v1/auth/verify: ${res.status} for ${body.slice(0, 200)}`);
        break;
      }
    }
    figures.wire_auth_verify = verifies.length;

    // still serving
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const cfg = await fetch(`${t.url}/v1/webrtc/config`, {
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(cfg.status).toBe(200);

    const inputs = Object.values(figures).reduce((a, b) => a + b, 0);
    const direct = Object.entries(figures)
      .filter(([k]) => k.startsWith('direct_'))
      .reduce((a, [, v]) => a + v, 0);
    recordFigure('fuzz', {
      scenario: 'Fuzzing every frame and body parser (fast-check)',
      reference:
        'ws/Autobahn, Socket.IO and Mercure parsers: malformed input is refused with an error, never crashes the process',
      measured:
        `${inputs} inputs (${direct} to the validators: signaling, pulse, messaging events, lane publish/receipts/ids, tasks, SIWE verify; ` +
        `${inputs - direct} through a real server: /signaling and /pulse/stream frames, Socket.IO events, lane/receipt/task/verify bodies): ` +
        `crashes ${directCrashes + wireCrashes} (validators ${directCrashes}, server ${wireCrashes}), uncaught exceptions ${uncaught}, unhandled rejections ${unhandled}; server answered afterwards${FULL ? '' : ' (short form)'}`,
      numbers: { ...figures, inputs, crashes: directCrashes + wireCrashes, uncaught, unhandled },
    });
    expect(crashes.slice(directCrashes)).toEqual([]);
    expect(wireCrashes).toBe(0);
    expect(uncaught).toBe(0);
    expect(unhandled).toBe(0);
  }, 300_000);
});
