import { createServer, type ServerResponse } from 'node:http';
import { serveBenchIpc } from '../lib/server-process.js';

// Baseline: a bare node:http SSE hub. GET /sse subscribes; POST /publish writes the body
// as one event to every subscriber (serialised once).
const subs = new Set<ServerResponse>();
let id = 0;
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sse')) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('retry: 2000\n\n');
    subs.add(res);
    req.on('close', () => subs.delete(res));
    return;
  }
  if (req.method === 'POST' && req.url === '/publish') {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const frame = `event: update\nid: ${++id}\ndata: ${body}\n\n`;
      for (const s of subs) s.write(frame);
      res.end('{}');
    });
    return;
  }
  res.writeHead(404).end();
});
server.listen(0, '127.0.0.1', () => serveBenchIpc((server.address() as { port: number }).port));
