import { PeerServer } from 'peer';
import { serveBenchIpc } from '../lib/server-process.js';

// Baseline: the PeerJS signaling server (npm `peer`), WebSocket at /peerjs.
PeerServer(
  { port: 0, host: '127.0.0.1', path: '/', key: 'peerjs', concurrent_limit: 1_000_000 } as never,
  (server) => {
    const addr = server.address();
    serveBenchIpc(typeof addr === 'object' && addr ? addr.port : 0);
  },
);
