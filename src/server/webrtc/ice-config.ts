import { QUALITY_THRESHOLDS } from '../../protocol/signaling.js';
import {
  AUDIO_CODEC,
  type WebRTCConfigResponse,
  type WebRTCDevice,
  type WebRTCIceServer,
} from '../../protocol/webrtc.js';
import type { Config } from '../config.js';
import { turnCredentials } from './credentials.js';

export type TurnMode = 'ephemeral' | 'static' | 'none';

/**
 * The seed's getWebRTCConfig (§2): STUN from STUN_URLS, TURN from TURN_URLS with ephemeral
 * credentials for this caller when TURN_SECRET is set, else the static pair; Opus at
 * 24 kHz for mobile, 48 kHz for desktop.
 */
export function buildWebRTCConfig(
  config: Pick<
    Config,
    'stunUrls' | 'turnUrls' | 'turnSecret' | 'turnTtlSec' | 'turnUsername' | 'turnCredential'
  >,
  address: string,
  device: WebRTCDevice,
  now: () => number,
): { body: WebRTCConfigResponse; turn: TurnMode } {
  const iceServers: WebRTCIceServer[] = config.stunUrls.map((urls) => ({ urls }));
  let turn: TurnMode = 'none';
  let turnExpiresAt: number | null = null;
  if (config.turnUrls.length > 0) {
    if (config.turnSecret) {
      const c = turnCredentials(config.turnSecret, address, config.turnTtlSec, now);
      iceServers.push({ urls: [...config.turnUrls], username: c.username, credential: c.credential });
      turnExpiresAt = c.expiresAt;
      turn = 'ephemeral';
    } else if (config.turnUsername && config.turnCredential) {
      iceServers.push({
        urls: [...config.turnUrls],
        username: config.turnUsername,
        credential: config.turnCredential,
      });
      turn = 'static';
    }
  }
  return {
    turn,
    body: {
      iceServers,
      codecPreferences: { audio: AUDIO_CODEC[device] },
      sdpSemantics: 'unified-plan',
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      iceTransportPolicy: 'all',
      thresholds: QUALITY_THRESHOLDS,
      turnExpiresAt,
    },
  };
}
