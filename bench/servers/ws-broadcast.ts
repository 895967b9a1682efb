import { createServer } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { serveBenchIpc } from '../lib/server-process.js';

// Baseline: a raw `ws` broadcast hub. Sockets with ?role=sub receive every frame sent by
// any other socket, serialised once (the frame is forwarded as received).
const subs = new Set<WebSocket>();
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  const role = new URL(req.url ?? '/', 'http://x').searchParams.get('role');
  if (role === 'sub') {
    subs.add(ws);
    ws.on('close', () => subs.delete(ws));
  }
  ws.send('{"type":"ready"}');
  ws.on('message', (data) => {
    for (const s of subs) s.send(data, { binary: false });
  });
});
server.listen(0, '127.0.0.1', () => serveBenchIpc((server.address() as { port: number }).port));
