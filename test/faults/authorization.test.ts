import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, publish } from '../helpers/lanes.js';
import { connect, next } from '../helpers/messaging.js';
import { openNode, PulseClient } from '../helpers/pulse.js';
import { startCluster, TEST_SERVICE_KEY, type TestServer, uniqueId, waitFor } from '../helpers/server.js';
import { connectPeer, join } from '../helpers/signaling.js';
import { signIn } from '../helpers/siwe.js';
import { recordFigure } from './figures.js';

/**
 * Authorization on every surface, on two nodes sharing the real Redis (the attacker and
 * the victim sit on different nodes where it matters): relays outside one's room, another
 * owner's lane session, another address's pulse nodeId, a DM "from" another address,
 * service endpoints without the service key. Every attempt must be refused: accepted 0.
 */
describe('authorization: nothing outside what the token grants', () => {
  let a: TestServer;
  let b: TestServer;
  const attempts: { what: string; accepted: boolean }[] = [];
  const tally = (what: string, accepted: boolean) => attempts.push({ what, accepted });
  beforeAll(async () => {
    [a, b] = await startCluster();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('signaling: relays outside one’s room reach no one', async () => {
    const room = uniqueId('authz');
    const alice = await connectPeer(a);
    const bob = await connectPeer(b);
    const mallory = await connectPeer(b);
    expect((await join(alice, room)).type).toBe('joined');
    expect((await join(bob, room)).type).toBe('joined');
    const own = uniqueId('mallory');
    expect((await join(mallory, own)).type).toBe('joined');
    const relays = [
      { type: 'offer', roomId: room, data: { type: 'offer', sdp: 'v=0 evil' } },
      { type: 'answer', roomId: room, data: { type: 'answer', sdp: 'v=0 evil' } },
      { type: 'ice', roomId: room, data: { candidate: 'evil' } },
      { type: 'offer', roomId: room, to: alice.peerId, data: { type: 'offer', sdp: 'v=0 evil' } },
      { type: 'ice', roomId: room, to: bob.peerId, data: { candidate: 'evil' } },
      // from its own room, addressed to a peer of another room
      { type: 'offer', roomId: own, to: alice.peerId, data: { type: 'offer', sdp: 'v=0 evil' } },
      { type: 'answer', roomId: own, to: bob.peerId, data: { type: 'answer', sdp: 'v=0 evil' } },
      { type: 'end', roomId: room },
      { type: 'leave', roomId: room },
      {
        type: 'stats',
        roomId: room,
        data: {
          rtt: 1,
          jitter: 1,
          packetLoss: 0,
          bitrate: 1,
          codec: 'x',
          iceState: 'connected',
          timestamp: 1,
        },
      },
    ];
    const codes: string[] = [];
    for (const f of relays) {
      mallory.send(f);
      if (f.type === 'stats') continue;
      const err = await mallory.next('error');
      codes.push(err.data.code);
    }
    // a frame of alice's after mallory's: bob has seen everything mallory's could have caused
    alice.send({ type: 'ice', roomId: room, to: bob.peerId, data: { candidate: 'marker' } });
    await bob.next((f) => f.type === 'ice' && f.data?.candidate === 'marker');
    const reached = [...alice.frames, ...bob.frames].filter(
      (f) => f.from === mallory.peerId || f.peerId === mallory.peerId || f.fromAddress === mallory.address,
    );
    for (const f of relays)
      tally(`signaling ${f.type} ${f.roomId === room ? 'into a foreign room' : 'to a foreign peer'}`, false);
    for (const r of reached)
      tally(`signaling frame reached a victim: ${JSON.stringify(r).slice(0, 120)}`, true);
    expect(codes.every((c) => c === 'not_in_room' || c === 'unknown_peer')).toBe(true);
    expect(reached).toEqual([]);
    await Promise.all([alice.close(), bob.close(), mallory.close()]);
  });

  it('lanes: another owner’s session is 403 on every call; publishing needs the service key', async () => {
    const owner = await signIn(a.url);
    const other = await signIn(b.url);
    const sid = await createSession(a.url, owner.token);
    expect((await publish(a.url, sid, 'catalog', { type: 'secret', data: { x: 1 } })).status).toBe(200);
    const get = async (url: string, path: string, headers: Record<string, string>) => {
      const ctl = new AbortController();
      const res = await fetch(`${url}${path}`, { headers, signal: ctl.signal });
      const status = res.status;
      ctl.abort();
      return status;
    };
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const checks: [string, () => Promise<number>, number[]][] = [
      [
        'lane read, other owner',
        () => get(b.url, `/v1/session/${sid}/lane/catalog`, bearer(other.token)),
        [403],
      ],
      [
        'lane read ?token=, other owner',
        () => get(a.url, `/v1/session/${sid}/lane/catalog?token=${other.token}`, {}),
        [403],
      ],
      [
        'lane resume, other owner',
        () => get(b.url, `/v1/session/${sid}/lane/catalog`, { ...bearer(other.token), 'last-event-id': '0' }),
        [403],
      ],
      [
        'multiplexed stream, other owner',
        () => get(b.url, `/v1/session/${sid}/stream`, bearer(other.token)),
        [403],
      ],
      ['lane read, no token', () => get(a.url, `/v1/session/${sid}/lane/catalog`, {}), [401]],
      [
        'lane read, service key',
        () => get(a.url, `/v1/session/${sid}/lane/catalog`, bearer(TEST_SERVICE_KEY)),
        [401, 403],
      ],
      [
        'receipts, other owner',
        async () => {
          const res = await fetch(`${b.url}/v1/session/${sid}/lane/receipts`, {
            method: 'POST',
            headers: { ...bearer(other.token), 'content-type': 'application/json' },
            body: JSON.stringify({ type: 'seen', data: {} }),
          });
          return res.status;
        },
        [403],
      ],
      [
        'publish with the owner’s user token',
        async () => (await publish(a.url, sid, 'catalog', { type: 'forged' }, owner.token)).status,
        [401, 403],
      ],
      [
        'publish without a key',
        async () => (await publish(a.url, sid, 'catalog', { type: 'forged' }, '')).status,
        [401, 403],
      ],
    ];
    for (const [what, run, refused] of checks) {
      const status = await run();
      tally(`lanes: ${what} → ${status}`, status < 400);
      expect(refused, what).toContain(status);
    }
  });

  it('pulse: another address cannot take a nodeId, and the owner keeps it', async () => {
    const owner = await signIn(a.url);
    const thief = await signIn(b.url);
    const nodeId = uniqueId('node');
    const real = await openNode(a.wsUrl, owner.token, { nodeId, capabilities: ['authz'] });
    const bad = await PulseClient.open(b.wsUrl, thief.token);
    for (const caps of [['authz'], ['other']]) {
      const answer = await bad.request('register', { nodeId, capabilities: caps }, 'error');
      tally(`pulse: register a foreign nodeId → ${answer.data.code}`, bad.all('registered').length > 0);
      expect(answer.data.code).toBe('node_taken');
    }
    // the thief's connection stays open (as §6 says) and the owner still gets the node's tasks
    expect(bad.closed).toBeUndefined();
    const res = await fetch(`${b.url}/v1/pulse/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SERVICE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'authz', payload: { n: 1 }, capability: 'authz' }),
    });
    expect(res.status).toBe(202);
    const assign = await real.next('task:assign');
    expect(assign.data.kind).toBe('authz');
    expect(bad.all('task:assign')).toEqual([]);
    tally('pulse: thief got a task', bad.all('task:assign').length > 0);
    expect(real.closed).toBeUndefined();
    await bad.close();
    await real.close();
  });

  it('messaging: `from` is the token’s address; forged tokens are refused', async () => {
    const sender = await signIn(a.url);
    const victim = await signIn(a.url);
    const receiver = await signIn(b.url);
    const s = await connect(a.url, sender.token, { transports: ['websocket'] });
    const r = await connect(b.url, receiver.token, { transports: ['websocket'] });
    const spoofs = [
      { to: receiver.address, content: 'spoof 1', from: victim.address },
      { to: receiver.address, content: 'spoof 2', from: victim.address, address: victim.address },
      { to: receiver.address, content: 'spoof 3', sender: victim.address, fromAddress: victim.address },
    ];
    for (const p of spoofs) {
      const got = next(r, 'message:receive', (m) => m.content === p.content);
      const ack = await s.timeout(5_000).emitWithAck('message:send', p as never);
      const m = await got;
      tally(
        `messaging: send as ${victim.address.slice(0, 8)}… → from ${m.from.slice(0, 8)}…`,
        m.from !== sender.address,
      );
      expect(ack.ok).toBe(true);
      expect(m.from).toBe(sender.address);
    }
    // a token signed with another secret, or edited, or without any: no connection
    const forged = await new SignJWT({ sub: victim.address })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-0123456789-abcdefghijkl'));
    const [h, , sig] = sender.token.split('.');
    const payload = Buffer.from(JSON.stringify({ sub: victim.address, address: victim.address })).toString(
      'base64url',
    );
    for (const [what, tok] of [
      ['forged secret', forged],
      ['edited payload', `${h}.${payload}.${sig}`],
      ['alg none', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`],
      ['no token', undefined],
      ['garbage', 'x'.repeat(40)],
    ] as const) {
      const accepted = await connect(a.url, tok, { transports: ['websocket'] }).then(
        (c) => {
          c.close();
          return true;
        },
        (e: Error) => {
          expect(e.message).toBe('unauthorized');
          return false;
        },
      );
      tally(`messaging: connect with ${what}`, accepted);
      expect(accepted, what).toBe(false);
    }
    s.close();
    r.close();
  });

  it('service endpoints: receipts and tasks need the service key', async () => {
    const user = await signIn(a.url);
    const created = await fetch(`${a.url}/v1/pulse/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SERVICE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'authz-none', payload: {} }),
    });
    const { taskId } = (await created.json()) as { taskId: string };
    const keys: [string, Record<string, string>][] = [
      ['no key', {}],
      ['a user token', { authorization: `Bearer ${user.token}` }],
      ['a wrong key', { authorization: `Bearer ${TEST_SERVICE_KEY}x` }],
      ['a key prefix', { authorization: `Bearer ${TEST_SERVICE_KEY.slice(0, -1)}` }],
      ['the key in another scheme', { authorization: `Basic ${TEST_SERVICE_KEY}` }],
    ];
    for (const [what, headers] of keys) {
      for (const [call, run] of [
        ['GET /v1/receipts', () => fetch(`${b.url}/v1/receipts`, { headers })],
        ['GET /v1/pulse/tasks/:id', () => fetch(`${b.url}/v1/pulse/tasks/${taskId}`, { headers })],
        [
          'POST /v1/pulse/tasks',
          () =>
            fetch(`${a.url}/v1/pulse/tasks`, {
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/json' },
              body: JSON.stringify({ kind: 'authz-none', payload: {} }),
            }),
        ],
      ] as const) {
        const res = await run();
        await res.arrayBuffer();
        tally(`${call} with ${what} → ${res.status}`, res.status < 400);
        expect([401, 403], `${call} with ${what}`).toContain(res.status);
      }
    }
    // and with the key they answer (the refusals above were about the key, not the route)
    expect(
      (await fetch(`${b.url}/v1/receipts`, { headers: { authorization: `Bearer ${TEST_SERVICE_KEY}` } }))
        .status,
    ).toBe(200);

    await waitFor(() => attempts.length > 0);
    const accepted = attempts.filter((x) => x.accepted);
    recordFigure('security', {
      scenario: 'Authorization on every surface (2 nodes, Redis)',
      reference:
        'Centrifugo channel permissions / Mercure subscriber JWT / Socket.IO middleware: a client acts only as its token’s identity, within what it grants',
      measured: `${attempts.length} unauthorized attempts (signaling relays outside the room, another owner’s lane session, a foreign pulse nodeId, DMs as another address, forged tokens, service calls without the key): accepted ${accepted.length}`,
      numbers: { attempts: attempts.length, accepted: accepted.length },
    });
    expect(accepted).toEqual([]);
  });
});
