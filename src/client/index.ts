/**
 * p3-realtime client SDK, for browsers and Node: Sign-In with Ethereum, reconnecting
 * sockets, calls with quality monitoring, messaging, lanes and pulse.
 *
 * Every factory that touches the platform takes the constructor as an option
 * (`WebSocket`, `EventSource`, `fetch`, `RTCPeerConnection`); in browsers the globals are used.
 *
 * @example
 * import { createAuthSession, createMessagingClient } from 'p3-realtime/client';
 * const auth = createAuthSession({ url: 'https://rt.example.com', signer: window.ethereum });
 * await auth.signIn();
 * const chat = createMessagingClient({ url: 'https://rt.example.com', token: auth });
 */

// the wire types a client app handles
export type { TokenResponse } from '../protocol/auth.js';
export type { ErrorCode } from '../protocol/errors.js';
export type { LaneName, LostEventData, ReadyEventData, SessionResponse } from '../protocol/lanes.js';
export type {
  CallEvent,
  CallIncoming,
  CallInviteAck,
  CallMedia,
  DirectMessage,
  MessageReceipt,
  PresenceState,
  PresenceStatus,
  TypingIndicator,
} from '../protocol/messaging.js';
export type {
  MetricsUpdate,
  NodeInfo,
  PulseMetrics,
  PulseTopic,
  TaskAssign,
  TaskUpdate,
  TaskView,
} from '../protocol/pulse.js';
export type { NetworkQuality, SignalingPeer, StatsData } from '../protocol/signaling.js';
export { assessNetworkQuality } from '../protocol/signaling.js';
export type { WebRTCConfigResponse, WebRTCDevice } from '../protocol/webrtc.js';

export * from './auth.js';
export * from './backoff.js';
export * from './call/bitrate.js';
export * from './call/call.js';
export * from './call/monitor.js';
export * from './call/peer.js';
export * from './call/quality.js';
export * from './call/sdp.js';
export * from './call/stats.js';
export type { Emitter, EventMap, Events } from './emitter.js';
export * from './errors.js';
export type { TokenSource } from './http.js';
export * from './lanes.js';
export * from './messaging.js';
export type {
  EventSourceConstructor,
  EventSourceLike,
  FetchLike,
  WebSocketConstructor,
  WebSocketLike,
} from './platform.js';
export * from './pulse/dashboard.js';
export * from './pulse/node.js';
export * from './pulse/tasks.js';
export * from './signaling.js';
export * from './socket.js';
