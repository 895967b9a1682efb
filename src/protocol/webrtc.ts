/**
 * §2 WebRTC configuration: `GET /v1/webrtc/config?device=mobile|desktop` (user token).
 * The answer is an RTCConfiguration (plus codec and quality hints) the client passes to
 * `new RTCPeerConnection(...)` as is.
 */
import type { QUALITY_THRESHOLDS } from './signaling.js';

export const WebRTCPaths = { config: '/v1/webrtc/config' } as const;

export const WEBRTC_DEVICES = ['mobile', 'desktop'] as const;
export type WebRTCDevice = (typeof WEBRTC_DEVICES)[number];

export const isWebRTCDevice = (d: string): d is WebRTCDevice =>
  (WEBRTC_DEVICES as readonly string[]).includes(d);

/** The seed's codec choice: mobile saves bandwidth with 24 kHz Opus. */
export const AUDIO_CODEC: Record<WebRTCDevice, string> = {
  mobile: 'opus/24000/2',
  desktop: 'opus/48000/2',
};

export interface WebRTCIceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface WebRTCConfigResponse {
  iceServers: WebRTCIceServer[];
  codecPreferences: { audio: string };
  sdpSemantics: 'unified-plan';
  bundlePolicy: 'max-bundle';
  rtcpMuxPolicy: 'require';
  iceTransportPolicy: 'all';
  thresholds: typeof QUALITY_THRESHOLDS;
  /** When the TURN credentials stop working (ms since the epoch); null: static or no TURN. */
  turnExpiresAt: number | null;
}
