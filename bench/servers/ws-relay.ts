import { createServer } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { serveBenchIpc } from '../lib/server-process.js';

// Baseline: a raw `ws` relay. Two sockets with the same ?pair= forward every frame to each other.
const waiting = new Map<string, WebSocket>();
const partner = new WeakMap<WebSocket, WebSocket>();
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  const pair = new URL(req.url ?? '/', 'http://x').searchParams.get('pair') ?? '';
  const other = waiting.get(pair);
  if (other) {
    waiting.delete(pair);
    partner.set(ws, other);
    partner.set(other, ws);
    ws.send('{"type":"paired"}');
    other.send('{"type":"paired"}');
  } else waiting.set(pair, ws);
  ws.on('message', (data, isBinary) => partner.get(ws)?.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => serveBenchIpc((server.address() as { port: number }).port));
