export * from './auth.js';
export * from './errors.js';
export * from './lanes.js';
export * from './messaging.js';
export * from './pulse.js';
export * from './signaling.js';
export * from './webrtc.js';
