import { QUALITY_THRESHOLDS } from '../../protocol/signaling.js';
import { createEmitter, type Events } from '../emitter.js';
import { ClientError } from '../errors.js';

/** The part of RTCPeerConnection negotiation uses (a fake in unit tests). */
export interface NegotiatingConnection {
  readonly signalingState: string;
  readonly iceConnectionState: string;
  readonly localDescription: { type: string; sdp?: string } | null;
  setLocalDescription(description?: any): Promise<void>;
  setRemoteDescription(description: any): Promise<void>;
  addIceCandidate(candidate?: any): Promise<void>;
  restartIce(): void;
  close(): void;
  onnegotiationneeded: ((event: any) => void) | null;
  onicecandidate: ((event: { candidate: { toJSON?(): unknown } | null }) => void) | null;
  oniceconnectionstatechange: ((event: any) => void) | null;
}

export interface PeerLinkOptions {
  /** The polite peer yields in a glare (both offered at once); exactly one side must be polite. */
  polite: boolean;
  /** Sends an offer, answer or candidate to this peer over signaling. */
  send(type: 'offer' | 'answer' | 'ice', data: unknown): void;
  /** Restart ICE when not connected within this long. @default 8000 (the seed's ICE_TIMEOUT_THRESHOLD) */
  iceTimeoutMs?: number;
  /** Rewrites an SDP before it goes on the wire (codec preference). */
  mungeSdp?: (sdp: string) => string;
  /**
   * Runs after a remote offer is applied and before the answer is made: a side that waits
   * for the other's offer adds its media here, so the answer carries it (the offered
   * transceivers are reused) and no second round is needed.
   */
  beforeAnswer?: () => void;
}

export interface PeerLinkEvents {
  [key: string]: unknown;
  /** An ICE restart was started, and why. */
  iceRestart: { reason: 'timeout' | 'failed' | 'network'; attempt: number };
  connected: undefined;
  error: ClientError;
}

export interface PeerLink extends Events<PeerLinkEvents> {
  /** Feeds an offer, answer or candidate from this peer (in arrival order). */
  handle(type: 'offer' | 'answer' | 'ice', data: unknown): Promise<void>;
  /** ICE restart now (after a network change). */
  restartIce(reason?: 'timeout' | 'failed' | 'network'): void;
  close(): void;
}

const isUp = (s: string) => s === 'connected' || s === 'completed';

/**
 * Perfect negotiation (W3C WebRTC §10.7 / MDN), so either side may add tracks, restart ICE
 * or renegotiate at any time without glare failures: the impolite peer ignores a colliding
 * offer, the polite one rolls back its own (implicitly, in setRemoteDescription) and
 * answers. Plus the seed's ICE watchdog: not connected within 8000 ms → restartIce().
 *
 * Glare is survivable, not free: Chromium sometimes never gathers another candidate on a
 * connection whose offer was rolled back while its own setLocalDescription was still in
 * flight (seen here under load: both sides `new` through every later ICE restart). So the
 * two sides do not restart in step: the impolite side restarts on the watchdog and at once
 * on `failed`; the polite side waits half a window longer, and only restarts if no offer
 * came from the other side meanwhile (that offer is the other side's restart).
 *
 * @example
 * const link = createPeerLink(pc, { polite: myPeerId > theirPeerId, send: (type, data) => signaling.signal(type, roomId, data, theirPeerId) });
 * signaling.on('signal', (m) => m.from === theirPeerId && link.handle(m.type, m.data));
 */
export function createPeerLink(pc: NegotiatingConnection, options: PeerLinkOptions): PeerLink {
  const events = createEmitter<PeerLinkEvents>();
  const iceTimeoutMs = options.iceTimeoutMs ?? QUALITY_THRESHOLDS.iceTimeoutMs;
  const munge = options.mungeSdp ?? ((s: string) => s);
  let makingOffer = false;
  let ignoreOffer = false;
  let settingRemoteAnswer = false;
  let closed = false;
  let restarts = 0;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Why the watchdog is armed, while it is. */
  let armed: 'timeout' | 'failed' | undefined;
  // signaling messages must be applied one at a time, in order
  let chain: Promise<void> = Promise.resolve();

  const describe = () => {
    const d = pc.localDescription;
    return d ? { type: d.type, sdp: d.sdp === undefined ? undefined : munge(d.sdp) } : null;
  };
  const fail = (message: string, cause: unknown) => {
    if (!closed) events.emit('error', new ClientError('negotiation', message, { cause }));
  };
  // the polite side's window is longer, so the impolite side's restart offer comes first
  const windowMs = options.polite ? Math.round(iceTimeoutMs * 1.5) : iceTimeoutMs;
  const disarm = () => {
    clearTimeout(watchdog);
    armed = undefined;
  };
  const arm = (reason: 'timeout' | 'failed' = 'timeout') => {
    disarm();
    if (closed) return;
    armed = reason;
    watchdog = setTimeout(() => {
      armed = undefined;
      if (!isUp(pc.iceConnectionState)) link.restartIce(reason);
    }, windowMs);
  };

  pc.onnegotiationneeded = async () => {
    try {
      makingOffer = true;
      await pc.setLocalDescription();
      const offer = describe();
      if (offer && !closed) options.send('offer', offer);
    } catch (error) {
      fail('Could not create an offer', error);
    } finally {
      makingOffer = false;
    }
  };
  pc.onicecandidate = ({ candidate }) => {
    if (closed) return;
    // null is end-of-candidates: the wire form is an empty candidate string
    options.send('ice', candidate ? (candidate.toJSON?.() ?? candidate) : { candidate: '' });
  };
  pc.oniceconnectionstatechange = () => {
    const state = pc.iceConnectionState;
    if (isUp(state)) {
      disarm();
      events.emit('connected', undefined);
    } else if (state === 'failed') {
      if (options.polite) arm('failed');
      else link.restartIce('failed');
    } else if (state === 'disconnected') {
      // often recovers by itself within seconds: give it the same window before restarting
      arm();
    }
  };

  async function apply(type: 'offer' | 'answer' | 'ice', data: unknown) {
    if (closed) return;
    if (type === 'ice') {
      try {
        await pc.addIceCandidate(data as any);
      } catch (error) {
        // candidates of an offer we ignored are expected to fail
        if (!ignoreOffer) fail('Could not add an ICE candidate', error);
      }
      return;
    }
    const description = data as { type: string; sdp?: string };
    const readyForOffer = !makingOffer && (pc.signalingState === 'stable' || settingRemoteAnswer);
    const collision = description.type === 'offer' && !readyForOffer;
    ignoreOffer = !options.polite && collision;
    if (ignoreOffer) return;
    settingRemoteAnswer = description.type === 'answer';
    try {
      await pc.setRemoteDescription(description);
    } finally {
      settingRemoteAnswer = false;
    }
    if (description.type === 'offer') {
      // the other side is (re)negotiating, its restart maybe: give that a whole window
      if (options.polite && armed) arm(armed);
      options.beforeAnswer?.();
      await pc.setLocalDescription();
      const answer = describe();
      if (answer && !closed) options.send('answer', answer);
    }
  }

  const link: PeerLink = {
    on: events.on,
    once: events.once,
    off: events.off,
    handle(type, data) {
      chain = chain.then(
        () => apply(type, data).catch((error) => fail(`Could not apply the ${type}`, error)),
        () => {},
      );
      return chain;
    },
    restartIce(reason = 'network') {
      if (closed) return;
      restarts++;
      events.emit('iceRestart', { reason, attempt: restarts });
      pc.restartIce();
      arm();
    },
    close() {
      if (closed) return;
      closed = true;
      disarm();
      pc.onnegotiationneeded = pc.onicecandidate = pc.oniceconnectionstatechange = null;
      pc.close();
      events.removeAll();
    },
  };
  arm();
  return link;
}
