import type { NetworkQuality, SignalingPeer, StatsData } from '../../protocol/signaling.js';
import { type WebRTCConfigResponse, type WebRTCDevice, WebRTCPaths } from '../../protocol/webrtc.js';
import { createEmitter, type Events } from '../emitter.js';
import { ClientError } from '../errors.js';
import { requestJson, resolveToken, type TokenSource } from '../http.js';
import { type FetchLike, httpUrl, resolveFetch, type WebSocketConstructor } from '../platform.js';
import { createSignalingClient, type SignalingClient } from '../signaling.js';
import type { StateChange } from '../socket.js';
import {
  createQualityMonitor,
  type MonitoredConnection,
  type QualityMonitor,
  type QualityMonitorOptions,
} from './monitor.js';
import { createPeerLink, type NegotiatingConnection, type PeerLink } from './peer.js';
import { detectDevice, opusRateOf, preferOpus } from './sdp.js';

export type CallState = 'idle' | 'joining' | 'active' | 'ended';

export type RTCPeerConnectionConstructor = new (config: RTCConfiguration) => RTCPeerConnection;

/** One remote participant (one device) of the call. */
export interface CallPeer {
  readonly peerId: string;
  readonly address: string;
  readonly connection: RTCPeerConnection;
  readonly quality: NetworkQuality;
}

export interface CallEvents {
  [key: string]: unknown;
  state: StateChange<CallState>;
  peer_joined: CallPeer;
  peer_left: { peerId: string; address: string; ended: boolean };
  track: { peerId: string; track: MediaStreamTrack; streams: readonly MediaStream[] };
  quality: { peerId: string; from: NetworkQuality; to: NetworkQuality; stats: StatsData };
  stats: { peerId: string; stats: StatsData };
  iceRestart: { peerId: string; reason: string; attempt: number };
  error: ClientError;
}

export interface CallOptions {
  /** The server's base URL. */
  url: string;
  token: TokenSource;
  roomId: string;
  /** Media to send. @default getUserMedia({ audio: true, video: true }) */
  localStream?: MediaStream;
  /** Constraints when no `localStream` is given. @default { audio: true, video: true } */
  media?: MediaStreamConstraints;
  /** @default 'auto' (from the user agent): picks the server's codec preference (mobile: 24 kHz Opus) */
  device?: WebRTCDevice | 'auto';
  /** Share a signaling client (several calls); otherwise the call opens and closes its own. */
  signaling?: SignalingClient;
  /** Quality monitoring and bitrate adaptation per peer; `false` turns it off. @default {} */
  quality?: QualityMonitorOptions | false;
  /** Report each quality sample to the server (§3.1 `stats`). @default true */
  reportStats?: boolean;
  RTCPeerConnection?: RTCPeerConnectionConstructor;
  /** 'relay' forces every connection through TURN (privacy, or testing the TURN path). @default the server's */
  iceTransportPolicy?: RTCIceTransportPolicy;
  getUserMedia?: (constraints: MediaStreamConstraints) => Promise<MediaStream>;
  fetch?: FetchLike;
  WebSocket?: WebSocketConstructor;
}

export interface Call extends Events<CallEvents> {
  readonly state: CallState;
  readonly roomId: string;
  readonly localStream: MediaStream | undefined;
  readonly peers: ReadonlyMap<string, CallPeer>;
  readonly microphoneEnabled: boolean;
  readonly cameraEnabled: boolean;
  /** Fetches the ICE config, gets the media, joins the room and connects to every peer in it. */
  join(): Promise<void>;
  /** Mutes/unmutes (the track keeps running, so unmuting is instant and needs no renegotiation). */
  setMicrophoneEnabled(enabled: boolean): void;
  setCameraEnabled(enabled: boolean): void;
  /** ICE restart on every peer (the call does this itself after a network change). */
  restartIce(): void;
  /** Ends the call for everyone, stops the media this call acquired, releases everything. */
  end(): void;
}

interface PeerEntry {
  peerId: string;
  address: string;
  pc: RTCPeerConnection;
  link: PeerLink;
  monitor: QualityMonitor | undefined;
  /** While we wait for the peer's first offer: when we stop waiting and offer ourselves. */
  waiting: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A mesh call: one RTCPeerConnection per other device in the room, negotiated with perfect
 * negotiation over the signaling client, with the server's ICE/TURN config and codec
 * preference, ICE restarts after the seed's 8000 ms threshold or a network change, and a
 * quality monitor per peer that adapts the send bitrate and reports stats to the server.
 *
 * @example
 * const call = createCall({ url, token: auth, roomId: 'room-42' });
 * call.on('track', ({ peerId, streams }) => attach(peerId, streams[0]));
 * call.on('quality', ({ peerId, to }) => badge(peerId, to));
 * await call.join();
 * call.setMicrophoneEnabled(false);
 * call.end();
 */
export function createCall(options: CallOptions): Call {
  const events = createEmitter<CallEvents>();
  const fetchFn = resolveFetch(options.fetch);
  const PC =
    options.RTCPeerConnection ??
    (globalThis as { RTCPeerConnection?: RTCPeerConnectionConstructor }).RTCPeerConnection;
  const ownsSignaling = !options.signaling;
  const peers = new Map<string, PeerEntry>();
  const views = new Map<string, CallPeer>();
  const offs: (() => void)[] = [];
  let state: CallState = 'idle';
  let signaling: SignalingClient | undefined = options.signaling;
  let config: WebRTCConfigResponse | undefined;
  let localStream = options.localStream;
  let ownsStream = false;
  let micOn = true;
  let camOn = true;

  const setState = (to: CallState) => {
    if (to === state) return;
    const from = state;
    state = to;
    events.emit('state', { from, to });
  };

  const remove = (peerId: string, ended: boolean) => {
    const p = peers.get(peerId);
    if (!p) return;
    peers.delete(peerId);
    views.delete(peerId);
    clearTimeout(p.waiting);
    p.monitor?.stop();
    p.link.close();
    events.emit('peer_left', { peerId, address: p.address, ended });
  };

  /**
   * One connection per peer. The side that joined the room makes the offer (`offer`: the
   * peers listed in our `joined`); a peer that arrives later is waited for: its offer is
   * answered with our media. Nobody offers at the same moment on a join, so the glare
   * (and its rollback) of both sides offering at once is left to real renegotiations.
   */
  const connect = (peer: SignalingPeer, offer: boolean) => {
    if (!PC || !config || !signaling || peers.has(peer.peerId) || peer.peerId === signaling.peerId) return;
    const sig = signaling;
    const pc = new PC({
      iceServers: config.iceServers,
      bundlePolicy: config.bundlePolicy,
      rtcpMuxPolicy: config.rtcpMuxPolicy,
      iceTransportPolicy: options.iceTransportPolicy ?? config.iceTransportPolicy,
    });
    const rate = opusRateOf(config.codecPreferences.audio);
    let sending = false;
    const addMedia = () => {
      if (sending || pc.signalingState === 'closed') return;
      sending = true;
      clearTimeout(entry.waiting);
      const tracks = localStream?.getTracks() ?? [];
      for (const track of tracks) pc.addTrack(track, localStream!);
      // a joiner without media still offers (to receive): the peer waits for that offer
      if (offer && tracks.length === 0 && typeof pc.addTransceiver === 'function') {
        pc.addTransceiver('audio', { direction: 'recvonly' });
        pc.addTransceiver('video', { direction: 'recvonly' });
      }
      preferOpusTransceivers(pc);
    };
    const link = createPeerLink(pc as unknown as NegotiatingConnection, {
      // a stable, shared order: exactly one side of each pair is polite
      polite: (sig.peerId ?? '') < peer.peerId,
      iceTimeoutMs: config.thresholds.iceTimeoutMs,
      mungeSdp: (sdp) => preferOpus(sdp, rate),
      send: (type, data) => sig.signal(type, options.roomId, data, peer.peerId),
      beforeAnswer: addMedia,
    });
    link.on('error', (e) => events.emit('error', e));
    link.on('iceRestart', (r) => events.emit('iceRestart', { peerId: peer.peerId, ...r }));
    pc.ontrack = (e) => events.emit('track', { peerId: peer.peerId, track: e.track, streams: e.streams });
    const entry: PeerEntry = {
      peerId: peer.peerId,
      address: peer.address,
      pc,
      link,
      monitor: undefined,
      waiting: undefined,
    };
    // adding the media starts negotiation (our offer); a waiting side offers itself if the
    // newcomer's offer does not come within one ICE window
    if (offer) addMedia();
    else entry.waiting = setTimeout(addMedia, config.thresholds.iceTimeoutMs);
    if (options.quality !== false) {
      const monitor = createQualityMonitor(pc as unknown as MonitoredConnection, options.quality ?? {});
      monitor.on('stats', ({ stats }) => {
        events.emit('stats', { peerId: peer.peerId, stats });
        if (options.reportStats !== false) sig.sendStats(options.roomId, stats);
      });
      monitor.on('quality', (q) => events.emit('quality', { peerId: peer.peerId, ...q }));
      entry.monitor = monitor;
    }
    peers.set(peer.peerId, entry);
    const view: CallPeer = {
      peerId: peer.peerId,
      address: peer.address,
      connection: pc,
      get quality() {
        return entry.monitor?.level ?? 'good';
      },
    };
    views.set(peer.peerId, view);
    events.emit('peer_joined', view);
  };

  const wire = (sig: SignalingClient) => {
    const mine = (roomId: string) => roomId === options.roomId && state !== 'ended';
    offs.push(
      sig.on('peer_joined', ({ roomId, peer }) => mine(roomId) && connect(peer, false)),
      sig.on('peer_left', ({ roomId, peerId }) => mine(roomId) && remove(peerId, false)),
      sig.on('end', ({ roomId, from }) => mine(roomId) && remove(from, true)),
      sig.on('signal', (m) => {
        if (!mine(m.roomId)) return;
        // an offer can overtake peer_joined when the two peers sit on different nodes
        if (!peers.has(m.from)) connect({ peerId: m.from, address: m.fromAddress }, false);
        void peers.get(m.from)?.link.handle(m.type, m.data);
      }),
      sig.on('joined', ({ roomId, peers: list, rejoined }) => {
        if (!mine(roomId) || !rejoined) return;
        // after a signaling reconnect we have a new peerId: the others dropped our old
        // connections, so start over with everyone in the room
        for (const id of [...peers.keys()]) remove(id, false);
        for (const p of list) connect(p, true);
      }),
    );
  };

  const onNetworkChange = () => {
    for (const p of peers.values()) p.link.restartIce('network');
  };
  const nav = (globalThis as { navigator?: { connection?: EventTarget } }).navigator;
  const win = globalThis as {
    addEventListener?: typeof addEventListener;
    removeEventListener?: typeof removeEventListener;
  };

  const setEnabled = (kind: 'audio' | 'video', enabled: boolean) => {
    for (const t of localStream?.getTracks() ?? []) if (t.kind === kind) t.enabled = enabled;
  };

  const call: Call = {
    on: events.on,
    once: events.once,
    off: events.off,
    get state() {
      return state;
    },
    roomId: options.roomId,
    get localStream() {
      return localStream;
    },
    peers: views,
    get microphoneEnabled() {
      return micOn;
    },
    get cameraEnabled() {
      return camOn;
    },
    async join() {
      if (state !== 'idle') throw new ClientError('bad_state', `Cannot join a call that is ${state}`);
      if (!PC) throw new TypeError('No RTCPeerConnection: pass one in the options');
      setState('joining');
      try {
        const device = !options.device || options.device === 'auto' ? detectDevice() : options.device;
        const u = httpUrl(options.url, WebRTCPaths.config);
        u.searchParams.set('device', device);
        // end() may run during any wait below: whatever is acquired after it is released here
        const abandoned = () => (state as CallState) !== 'joining';
        config = await requestJson<WebRTCConfigResponse>(fetchFn, u, {
          token: await resolveToken(options.token),
        });
        if (abandoned()) return;
        if (!localStream) {
          const gum =
            options.getUserMedia ??
            ((c: MediaStreamConstraints) =>
              (globalThis as { navigator?: Navigator }).navigator!.mediaDevices.getUserMedia(c));
          const stream = await gum(options.media ?? { audio: true, video: true });
          if (abandoned()) {
            for (const t of stream.getTracks()) t.stop();
            return;
          }
          localStream = stream;
          ownsStream = true;
        }
        signaling ??= createSignalingClient({
          url: options.url,
          token: options.token,
          ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
        });
        wire(signaling);
        const list = await signaling.join(options.roomId);
        if (abandoned()) {
          if (signaling.rooms.has(options.roomId)) signaling.end(options.roomId);
          if (ownsSignaling) signaling.close();
          return;
        }
        for (const p of list) connect(p, true);
        win.addEventListener?.('online', onNetworkChange);
        nav?.connection?.addEventListener?.('change', onNetworkChange);
        setState('active');
      } catch (error) {
        call.end();
        throw error instanceof ClientError
          ? error
          : new ClientError('join_failed', 'Could not join the call', { cause: error });
      }
    },
    setMicrophoneEnabled(enabled) {
      micOn = enabled;
      setEnabled('audio', enabled);
    },
    setCameraEnabled(enabled) {
      camOn = enabled;
      setEnabled('video', enabled);
    },
    restartIce: onNetworkChange,
    end() {
      if (state === 'ended') return;
      win.removeEventListener?.('online', onNetworkChange);
      nav?.connection?.removeEventListener?.('change', onNetworkChange);
      if (signaling?.rooms.has(options.roomId)) signaling.end(options.roomId);
      for (const id of [...peers.keys()]) remove(id, false);
      for (const off of offs.splice(0)) off();
      if (ownsStream) for (const t of localStream?.getTracks() ?? []) t.stop();
      if (ownsSignaling) signaling?.close();
      setState('ended');
    },
  };
  return call;
}

/** Puts Opus first on every audio transceiver, where the browser lets us (setCodecPreferences). */
function preferOpusTransceivers(pc: RTCPeerConnection) {
  const caps = (globalThis as { RTCRtpReceiver?: typeof RTCRtpReceiver }).RTCRtpReceiver?.getCapabilities?.(
    'audio',
  );
  if (!caps || typeof pc.getTransceivers !== 'function') return;
  const opus = caps.codecs.filter((c) => /opus/i.test(c.mimeType));
  const rest = caps.codecs.filter((c) => !/opus/i.test(c.mimeType));
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track?.kind !== 'audio' || typeof t.setCodecPreferences !== 'function') continue;
    try {
      t.setCodecPreferences([...opus, ...rest]);
    } catch {
      // a browser that refuses the list keeps its own order (Opus is the default anyway)
    }
  }
}
