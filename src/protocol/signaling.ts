/**
 * §3 Signaling: WebSocket `/signaling`. Frame types, constants and the quality classifier,
 * shared by the server and the client SDK. Zod-free: the validators the server runs at the
 * edge are in signaling.schema.ts, so the SDK never pulls zod into an app's bundle.
 */

export const SIGNALING_PATH = '/signaling';

/** A peer may be in this many rooms at once; one more `join` gets `room_full`. */
export const MAX_ROOMS_PER_PEER = 16;

/** §3 room ids: 1–128 of `A-Za-z0-9_.:-` (safe in engine keys, channels and logs). */
export const SIGNALING_ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export const isValidRoomId = (id: string): boolean => SIGNALING_ROOM_ID.test(id);

// ── call quality (§3.1) ──────────────────────────────────────────────────────────

/** The seed's thresholds: also served by GET /v1/webrtc/config. */
export const QUALITY_THRESHOLDS = { rttMs: 300, packetLossPct: 5, iceTimeoutMs: 8000 } as const;

export const NETWORK_QUALITY_LEVELS = ['excellent', 'good', 'poor', 'critical'] as const;
export type NetworkQuality = (typeof NETWORK_QUALITY_LEVELS)[number];

/** One sample of a call's RTCStats, as the client reports it. */
export interface StatsData {
  /** Round-trip time (ms). */
  rtt: number;
  /** Packet jitter (ms). */
  jitter: number;
  /** Packet loss (%). */
  packetLoss: number;
  /** bit/s */
  bitrate: number;
  codec: string;
  iceState: string;
  /** ms since the epoch */
  timestamp: number;
}

/**
 * The seed's classifier, shared by the server (metrics) and the SDK (adaptive quality).
 *
 * @example
 * assessNetworkQuality({ rtt: 80, packetLoss: 0.5 }); // 'excellent'
 */
export function assessNetworkQuality(stats: Pick<StatsData, 'rtt' | 'packetLoss'>): NetworkQuality {
  if (stats.rtt < 100 && stats.packetLoss < 1) return 'excellent';
  if (stats.rtt < QUALITY_THRESHOLDS.rttMs && stats.packetLoss < QUALITY_THRESHOLDS.packetLossPct)
    return 'good';
  if (stats.rtt < 500 && stats.packetLoss < 10) return 'poor';
  return 'critical';
}

// ── client → server ──────────────────────────────────────────────────────────────

/** RTCSessionDescriptionInit; unknown extra fields pass through to the peer. */
export type SignalingSessionDescription = {
  [key: string]: unknown;
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp?: string;
};

/** RTCIceCandidateInit; `candidate: ''` is the end-of-candidates marker. */
export type SignalingIceCandidate = {
  [key: string]: unknown;
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
};

/** The first frame of a connection: a token, or a signed SIWE message. */
export type SignalingAuthFrame =
  | { type: 'auth'; token: string }
  | {
      type: 'auth';
      /** Optional (the seed sends it); when given it must be the message's address. */
      address?: string;
      message: string;
      signature: string;
    };

export type SignalingRelayType = 'offer' | 'answer' | 'ice';

/** Every frame but `auth` a client may send (what `SignalingClientFrameSchema` accepts). */
export type SignalingRequestFrame =
  | { type: 'join'; roomId: string }
  | { type: 'offer'; roomId: string; data: SignalingSessionDescription; to?: string }
  | { type: 'answer'; roomId: string; data: SignalingSessionDescription; to?: string }
  | { type: 'ice'; roomId: string; data: SignalingIceCandidate; to?: string }
  | { type: 'end'; roomId: string }
  | { type: 'leave'; roomId: string }
  | { type: 'stats'; roomId: string; data: StatsData }
  | { type: 'heartbeat' }
  | { type: 'ping' };

export type SignalingClientFrame = SignalingRequestFrame | SignalingAuthFrame;

/** Frame types served before authentication. */
export const SIGNALING_PUBLIC_TYPES = ['heartbeat', 'ping'] as const;

// ── server → client ──────────────────────────────────────────────────────────────

export interface SignalingPeer {
  peerId: string;
  /** EIP-55 */
  address: string;
}

export type SignalingServerFrame =
  | { type: 'auth_ok'; address: string; peerId: string; expiresAt: number }
  | { type: 'joined'; roomId: string; peerId: string; peers: SignalingPeer[] }
  | { type: 'peer_joined'; roomId: string; peer: SignalingPeer }
  /** Also sent to a peer with its own peerId when its membership lapsed (it may join again). */
  | { type: 'peer_left'; roomId: string; peerId: string }
  | { type: SignalingRelayType; roomId: string; from: string; fromAddress: string; data: unknown }
  | { type: 'end'; roomId: string; from: string; fromAddress: string }
  | { type: 'pong'; serverTime: number }
  | { type: 'error'; data: { code: string; message: string } };
