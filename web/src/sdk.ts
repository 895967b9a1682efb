/** The one door to the client SDK: the app never speaks the wire protocol itself. */
export * from '../../src/client/index.js';
