import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPeerLink, type NegotiatingConnection, type PeerLink } from '../src/client/call/peer.js';
import { detectDevice, opusRateOf, preferOpus } from '../src/client/call/sdp.js';
import { FakePeerConnection } from './helpers/client.js';

/** Two fake peers wired back to back; `deliver` moves their messages (or we hold them, to force a glare). */
function pair({ iceTimeoutMs = 8000 } = {}) {
  const pcs = [new FakePeerConnection(), new FakePeerConnection()] as const;
  const outbox: { to: 0 | 1; type: 'offer' | 'answer' | 'ice'; data: any }[] = [];
  const links: PeerLink[] = [0, 1].map((i) =>
    createPeerLink(pcs[i] as unknown as NegotiatingConnection, {
      polite: i === 1,
      iceTimeoutMs,
      send: (type, data) => outbox.push({ to: (1 - i) as 0 | 1, type, data }),
    }),
  );
  const errors: string[] = [];
  for (const l of links) l.on('error', (e) => errors.push(String((e.cause as Error)?.message ?? e.message)));
  const deliver = async () => {
    for (let round = 0; round < 50 && outbox.length > 0; round++) {
      const batch = outbox.splice(0);
      await Promise.all(batch.map((m) => links[m.to]!.handle(m.type, m.data)));
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  return { pcs, links, outbox, deliver, errors };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('perfect negotiation (fake RTCPeerConnection)', () => {
  beforeEach(() => {
    FakePeerConnection.instances = [];
    FakePeerConnection.iceBlocked = false;
  });

  it('one side adds media: offer, answer, candidates, connected', async () => {
    const { pcs, outbox, deliver, errors } = pair();
    pcs[0].addTrack('audio');
    await settle();
    expect(outbox.map((m) => m.type)).toEqual(['offer']);
    await deliver();
    expect(pcs.map((p) => p.signalingState)).toEqual(['stable', 'stable']);
    expect(pcs.map((p) => p.iceConnectionState)).toEqual(['connected', 'connected']);
    expect(pcs[1].candidates).toEqual([{ candidate: 'cand-0', sdpMid: '0' }]);
    expect(errors).toEqual([]);
  });

  it('glare: both offer at once, the polite side rolls back, nobody fails', async () => {
    const { pcs, outbox, deliver, errors } = pair();
    pcs[0].addTrack('a0');
    pcs[1].addTrack('a1');
    await settle();
    // both made an offer before seeing the other's: a collision
    expect(outbox.filter((m) => m.type === 'offer')).toHaveLength(2);
    expect(pcs.map((p) => p.signalingState)).toEqual(['have-local-offer', 'have-local-offer']);
    await deliver();
    expect(errors).toEqual([]);
    expect(pcs.map((p) => p.signalingState)).toEqual(['stable', 'stable']);
    // the impolite side's offer won; the polite side then sent its own again (its track still
    // needed negotiating) and the impolite side answered it
    expect(pcs[0].offersMade).toBe(1);
    expect(pcs[1].offersMade).toBe(2);
    expect(pcs[0].localDescription?.type).toBe('answer');
  });

  it('many random glares in a row all settle', async () => {
    const { pcs, deliver, errors } = pair();
    for (let i = 0; i < 20; i++) {
      if (i % 3 !== 1) pcs[0].addTrack(`t0-${i}`);
      if (i % 3 !== 2) pcs[1].addTrack(`t1-${i}`);
      await settle();
      await deliver();
      expect(pcs.map((p) => p.signalingState)).toEqual(['stable', 'stable']);
    }
    expect(errors).toEqual([]);
  });

  it('adds the SDP rewrite to what goes on the wire only', async () => {
    const pc = new FakePeerConnection();
    const sent: any[] = [];
    createPeerLink(pc as unknown as NegotiatingConnection, {
      polite: true,
      send: (type, data) => sent.push({ type, data }),
      mungeSdp: (s) => `${s}+munged`,
    });
    pc.addTrack('x');
    await settle();
    expect(sent[0].data.sdp).toBe('offer-0-1+munged');
    expect(pc.localDescription?.sdp).toBe('offer-0-1');
  });
});

describe('ICE watchdog (fake timers)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('restarts ICE when not connected within 8000 ms, and again after each further 8000 ms', async () => {
    vi.useFakeTimers();
    FakePeerConnection.iceBlocked = true;
    const pc = new FakePeerConnection();
    const link = createPeerLink(pc as unknown as NegotiatingConnection, { polite: false, send: () => {} });
    const restarts: string[] = [];
    link.on('iceRestart', (r) => restarts.push(`${r.reason}#${r.attempt}`));
    await vi.advanceTimersByTimeAsync(7_999);
    expect(pc.restarts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(pc.restarts).toBe(1);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(restarts).toEqual(['timeout#1', 'timeout#2']);
    pc.setIce('connected');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(pc.restarts).toBe(2);
    link.close();
  });

  it('restarts at once on failed, and after the window on a disconnect that does not recover', async () => {
    vi.useFakeTimers();
    const pc = new FakePeerConnection();
    const link = createPeerLink(pc as unknown as NegotiatingConnection, { polite: false, send: () => {} });
    pc.setIce('connected');
    pc.setIce('failed');
    expect(pc.restarts).toBe(1);
    pc.setIce('connected');
    pc.setIce('disconnected');
    await vi.advanceTimersByTimeAsync(7_999);
    expect(pc.restarts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(pc.restarts).toBe(2);
    // a disconnect that recovers in time costs nothing
    pc.setIce('connected');
    pc.setIce('disconnected');
    await vi.advanceTimersByTimeAsync(3_000);
    pc.setIce('connected');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(pc.restarts).toBe(2);
    link.close();
    expect(pc.closed).toBe(true);
  });

  it('the polite side restarts half a window later, and not while the other side is restarting', async () => {
    vi.useFakeTimers();
    FakePeerConnection.iceBlocked = true;
    const pc = new FakePeerConnection();
    const link = createPeerLink(pc as unknown as NegotiatingConnection, { polite: true, send: () => {} });
    await vi.advanceTimersByTimeAsync(11_999);
    expect(pc.restarts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(pc.restarts).toBe(1);
    // failed: no restart at once; the other side's restart offer arrives within the window
    pc.setIce('failed');
    expect(pc.restarts).toBe(1);
    await vi.advanceTimersByTimeAsync(6_000);
    await link.handle('offer', { type: 'offer', sdp: 'their-restart' });
    await vi.advanceTimersByTimeAsync(6_000);
    expect(pc.restarts).toBe(1);
    // the other side went quiet: a whole window after its offer, this side restarts
    await vi.advanceTimersByTimeAsync(6_000);
    expect(pc.restarts).toBe(2);
    link.close();
  });

  it('runs beforeAnswer once per remote offer, after applying it and before answering', async () => {
    const pc = new FakePeerConnection();
    const seen: string[] = [];
    const link = createPeerLink(pc as unknown as NegotiatingConnection, {
      polite: true,
      send: (type) => seen.push(`sent ${type}`),
      beforeAnswer: () => {
        seen.push(`beforeAnswer in ${pc.signalingState}`);
        pc.addTrack('mic');
      },
    });
    await link.handle('offer', { type: 'offer', sdp: 'theirs' });
    await settle();
    // the track rode on the answer: no offer of our own followed
    expect(seen.filter((x) => x !== 'sent ice')).toEqual([
      'beforeAnswer in have-remote-offer',
      'sent answer',
    ]);
    expect(pc.offersMade).toBe(0);
    await link.handle('offer', { type: 'offer', sdp: 'theirs-again' });
    expect(seen.filter((x) => x.startsWith('beforeAnswer'))).toHaveLength(2);
    link.close();
  });
});

describe('Opus preference', () => {
  const sdp = [
    'v=0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 0 8 111 9',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=rtpmap:96 VP8/90000',
    '',
  ].join('\r\n');

  it('mobile (opus/24000/2): Opus first and a 24 kHz playback/capture rate', () => {
    const out = preferOpus(sdp, opusRateOf('opus/24000/2'));
    expect(out).toContain('m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 9\r\n');
    expect(out).toContain(
      'a=fmtp:111 minptime=10;useinbandfec=1;maxplaybackrate=24000;sprop-maxcapturerate=24000\r\n',
    );
    expect(out).toContain('m=video 9 UDP/TLS/RTP/SAVPF 96\r\n');
    // idempotent: a second pass does not stack parameters
    expect(preferOpus(out, 24000)).toBe(out);
  });

  it('desktop (opus/48000/2): Opus first, fmtp untouched', () => {
    const out = preferOpus(sdp, opusRateOf('opus/48000/2'));
    expect(out).toContain('a=fmtp:111 minptime=10;useinbandfec=1\r\n');
    expect(out).toContain('m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 9');
    expect(opusRateOf('garbage')).toBe(48000);
  });

  it('detects mobile devices', () => {
    expect(detectDevice({ userAgentData: { mobile: true } })).toBe('mobile');
    expect(detectDevice({ userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)' })).toBe(
      'mobile',
    );
    expect(detectDevice({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120' })).toBe('desktop');
    expect(detectDevice(undefined)).toBe('desktop');
  });
});
