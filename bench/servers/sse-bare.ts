import { createServer, type ServerResponse } from 'node:http';
import { serveBenchIpc } from '../lib/server-process.js';

// Baseline: a bare node:http SSE hub. GET /sse subscribes; POST /publish takes one event
// or an array of events ({type, data}) and writes each, serialised once, to every subscriber.
const subs = new Set<ServerResponse>();
const history: [number, string][] = [];
let id = 0;
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sse')) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const last = Number(req.headers['last-event-id'] ?? Number.NaN);
    const replay = Number.isNaN(last) ? [] : history.filter(([id]) => id > last).map(([, f]) => f);
    res.write(`retry: 2000\n\n${replay.join('')}`);
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
      const parsed = JSON.parse(body) as { type: string; data: unknown } | { type: string; data: unknown }[];
      for (const e of Array.isArray(parsed) ? parsed : [parsed]) {
        const frame = `event: ${e.type}\nid: ${++id}\ndata: ${JSON.stringify(e.data)}\n\n`;
        history.push([id, frame]);
        if (history.length > 1000) history.shift();
        for (const s of subs) s.write(frame);
      }
      res.end('{}');
    });
    return;
  }
  res.writeHead(404).end();
});
server.listen(0, '127.0.0.1', () => serveBenchIpc((server.address() as { port: number }).port));
