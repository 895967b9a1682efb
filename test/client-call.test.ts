import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Call, createCall, type RTCPeerConnectionConstructor } from '../src/client/call/call.js';
import { FakePeerConnection, platform } from './helpers/client.js';
import { startServer, type TestServer, uniqueId, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

/** A MediaStream stand-in: tracks with kind, enabled and stop(). */
function fakeStream() {
  const tracks = ['audio', 'video'].map((kind) => ({
    kind,
    enabled: true,
    stopped: false,
    stop() {
      this.stopped = true;
    },
  }));
  return { tracks, getTracks: () => tracks } as unknown as MediaStream & { tracks: typeof tracks };
}

/** The fake connection of a call with exactly one peer. */
function onlyConnection(c: Call): FakePeerConnection {
  const [peer, ...more] = [...c.peers.values()];
  if (!peer || more.length > 0) throw new Error(`expected one peer, have ${c.peers.size}`);
  return peer.connection as unknown as FakePeerConnection;
}

/** `first` joins, then `second`; resolves with each one's connection once both are connected. */
async function joinedPair(first: Call, second: Call): Promise<[FakePeerConnection, FakePeerConnection]> {
  await first.join();
  await second.join();
  await waitFor(() => first.peers.size === 1 && second.peers.size === 1, { what: 'both see each other' });
  const pair: [FakePeerConnection, FakePeerConnection] = [onlyConnection(first), onlyConnection(second)];
  await waitFor(() => pair.every((p) => p.iceConnectionState === 'connected'), { what: 'connected' });
  return pair;
}

/**
 * createCall in Node: the real server (ICE config, signaling), a fake RTCPeerConnection
 * (the media itself is tested in a browser elsewhere).
 */
describe('createCall over the real signaling server (fake RTCPeerConnection)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(() => t.close());
  beforeEach(() => {
    FakePeerConnection.instances = [];
  });

  const newCall = async (roomId: string, extra: Partial<Parameters<typeof createCall>[0]> = {}) => {
    const { token } = await signIn(t.url);
    return createCall({
      url: t.url,
      token,
      roomId,
      localStream: fakeStream(),
      device: 'mobile',
      RTCPeerConnection: FakePeerConnection as unknown as RTCPeerConnectionConstructor,
      WebSocket: platform.WebSocket,
      quality: { intervalMs: 50 },
      ...extra,
    });
  };

  it('two devices join, negotiate through the server and connect; mute, camera, end', async () => {
    const room = uniqueId('call');
    const a: Call = await newCall(room);
    const b: Call = await newCall(room);
    const states: string[] = [];
    a.on('state', (s) => states.push(s.to));
    await a.join();
    expect(states).toEqual(['joining', 'active']);
    const stats: number[] = [];
    a.on('stats', (s) => stats.push(s.stats.timestamp));
    await b.join();

    await waitFor(() => a.peers.size === 1 && b.peers.size === 1, { what: 'both see each other' });
    const pcs = FakePeerConnection.instances;
    await waitFor(
      () =>
        pcs.length === 2 &&
        pcs.every((p) => p.signalingState === 'stable' && p.iceConnectionState === 'connected'),
      {
        what: 'negotiated and connected',
      },
    );
    // the server's ICE config reached the connection
    expect(pcs[0]!.config).toMatchObject({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    expect(pcs[0]!.tracks).toHaveLength(2);
    await waitFor(() => stats.length >= 2, { what: 'quality samples' });
    // each sample is reported to the server (§3.1), which classifies it
    await waitFor(
      async () =>
        /p3_signaling_call_quality_total\{[^}]*\} [1-9]/.test(await (await fetch(`${t.url}/metrics`)).text()),
      { what: 'stats recorded by the server' },
    );

    a.setMicrophoneEnabled(false);
    a.setCameraEnabled(false);
    const tracks = (a.localStream as unknown as ReturnType<typeof fakeStream>).tracks;
    expect(tracks.map((x) => x.enabled)).toEqual([false, false]);
    expect(a.microphoneEnabled).toBe(false);
    a.setMicrophoneEnabled(true);
    expect(tracks[0]!.enabled).toBe(true);

    const left = new Promise((r) => b.once('peer_left', r));
    a.end();
    expect(await left).toMatchObject({ ended: true });
    expect(a.state).toBe('ended');
    expect(b.peers.size).toBe(0);
    // a stream the app passed in is the app's: the call does not stop it
    expect(tracks.every((x) => !x.stopped)).toBe(true);
    b.end();
  });

  it('the device that joins makes the one offer; the one already there answers with its media', async () => {
    const room = uniqueId('offer');
    const a = await newCall(room);
    const b = await newCall(room);
    const [ofA, ofB] = await joinedPair(a, b);
    await waitFor(() => [ofA, ofB].every((p) => p.signalingState === 'stable'), { what: 'negotiated' });
    // no glare on a join: b offered once, a answered (its tracks rode on the answer)
    expect(ofB.offersMade).toBe(1);
    expect(ofA.offersMade).toBe(0);
    expect(ofA.localDescription?.type).toBe('answer');
    expect(ofA.tracks).toHaveLength(2);
    expect(ofB.tracks).toHaveLength(2);
    a.end();
    b.end();
  });

  it('a device without media that joins still offers (to receive) and the other answers at once', async () => {
    const room = uniqueId('viewer');
    const a = await newCall(room);
    const viewer = await newCall(room, { localStream: { getTracks: () => [] } as unknown as MediaStream });
    const t0 = Date.now();
    const [ofA, ofViewer] = await joinedPair(a, viewer);
    // long before the 8 s a waiting side gives an offer that does not come
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(ofViewer.transceivers).toEqual([
      { kind: 'audio', direction: 'recvonly' },
      { kind: 'video', direction: 'recvonly' },
    ]);
    expect(ofViewer.offersMade).toBe(1);
    expect(ofA.tracks).toHaveLength(2);
    a.end();
    viewer.end();
  });

  it('a third device joins a running call: a full mesh', async () => {
    const room = uniqueId('mesh');
    const calls = [await newCall(room), await newCall(room), await newCall(room)];
    for (const c of calls) await c.join();
    await waitFor(() => calls.every((c) => c.peers.size === 2), { what: 'full mesh' });
    await waitFor(
      () =>
        FakePeerConnection.instances.length === 6 &&
        FakePeerConnection.instances.every((p) => p.iceConnectionState === 'connected'),
      { what: 'six connected peer connections' },
    );
    for (const c of calls) c.end();
  });

  it('a failed join (bad token) ends the call with the server error', async () => {
    const call = createCall({
      url: t.url,
      token: 'bad',
      roomId: 'r1',
      localStream: fakeStream(),
      RTCPeerConnection: FakePeerConnection as unknown as RTCPeerConnectionConstructor,
      WebSocket: platform.WebSocket,
    });
    await expect(call.join()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(call.state).toBe('ended');
  });

  it('end() while join() waits for the camera releases the camera and never joins the room', async () => {
    const { token } = await signIn(t.url);
    const stream = fakeStream();
    let grant: (s: MediaStream) => void = () => {};
    const call = createCall({
      url: t.url,
      token,
      roomId: uniqueId('abandon'),
      getUserMedia: () => new Promise<MediaStream>((r) => (grant = r)),
      RTCPeerConnection: FakePeerConnection as unknown as RTCPeerConnectionConstructor,
      WebSocket: platform.WebSocket,
    });
    const joining = call.join();
    await waitFor(() => call.state === 'joining');
    // the camera prompt is still open when the user hangs up
    await new Promise((r) => setTimeout(r, 100));
    call.end();
    grant(stream);
    await joining;
    expect(call.state).toBe('ended');
    expect(stream.tracks.every((tr) => tr.stopped)).toBe(true);
    expect(FakePeerConnection.instances).toHaveLength(0);
  });

  it('iceTransportPolicy "relay" reaches every RTCPeerConnection', async () => {
    const room = uniqueId('relay');
    const calls = [await newCall(room, { iceTransportPolicy: 'relay' }), await newCall(room)];
    for (const c of calls) await c.join();
    await waitFor(() => FakePeerConnection.instances.length === 2, { what: 'two peer connections' });
    const policies = FakePeerConnection.instances.map(
      (p) => (p as unknown as { config: RTCConfiguration }).config?.iceTransportPolicy,
    );
    expect(policies.sort()).toEqual(['all', 'relay']);
    for (const c of calls) c.end();
  });
});
