/**
 * `p3-realtime/protocol`: the wire protocol's types, constants and pure helpers, plus the
 * zod schemas the server validates with (`*.schema.ts`). The client SDK imports the
 * zod-free modules directly, never this index, so apps that bundle it do not ship zod.
 */
export * from './auth.js';
export * from './errors.js';
export * from './lanes.js';
export * from './lanes.schema.js';
export * from './messaging.js';
export * from './messaging.schema.js';
export * from './pulse.js';
export * from './pulse.schema.js';
export * from './signaling.js';
export * from './signaling.schema.js';
export * from './webrtc.js';
