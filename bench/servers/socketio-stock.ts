import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { serveBenchIpc } from '../lib/server-process.js';

// Baseline: stock Socket.IO doing the equivalent of a DM: each socket joins a room named
// by its id (handshake auth.id); `dm` {to, content} is emitted to room `to`.
// With BENCH_REDIS_URL: the same adapter p3 uses (Redis Streams).
const http = createServer();
const io = new Server(http, { serveClient: false, transports: ['websocket'] });
if (process.env.BENCH_REDIS_URL) {
  const { createAdapter } = await import('@socket.io/redis-streams-adapter');
  io.adapter(
    createAdapter(new Redis(process.env.BENCH_REDIS_URL), {
      streamName: process.env.BENCH_STREAM ?? 'bench-stream',
    }),
  );
}
io.on('connection', (socket) => {
  const id = String((socket.handshake.auth as { id?: string }).id ?? socket.id);
  socket.join(id);
  // the announcement baseline: one emit to every connected client
  socket.on('announce-all', (data: unknown) => {
    io.emit('announce', data);
  });
  socket.on('dm', (msg: { to: string; content: string }) => {
    io.to(msg.to).emit('dm', { from: id, to: msg.to, content: msg.content, timestamp: Date.now() });
  });
});
http.listen(0, '127.0.0.1', () => serveBenchIpc((http.address() as { port: number }).port));
