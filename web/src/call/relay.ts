import type { RTCPeerConnectionConstructor } from '../sdk.js';

/**
 * An RTCPeerConnection that only uses relay candidates (TURN), whatever the server's
 * config says: the peer never learns the user's IP addresses, at the cost of a hop.
 * The SDK takes the constructor as an option, so this needs no SDK support.
 */
export function relayOnlyPeerConnection(): RTCPeerConnectionConstructor {
  const Base = window.RTCPeerConnection;
  return class RelayOnlyPeerConnection extends Base {
    constructor(config: RTCConfiguration = {}) {
      super({ ...config, iceTransportPolicy: 'relay' });
    }
  };
}
