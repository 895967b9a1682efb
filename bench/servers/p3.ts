// p3-realtime as users run it: the compiled server (`npm run build`, as `npm start` does),
// with auth, validation, rate limits and metrics on, on a free port.
import { serveBenchIpc } from '../lib/server-process.js';

const { createRealtimeServer } = (await import(
  new URL('../../dist/server/index.js', import.meta.url).href
)) as typeof import('../../src/server/index.js');
const server = await createRealtimeServer({ config: { port: 0, host: '127.0.0.1', logLevel: 'silent' } });
const { port } = await server.listen();
serveBenchIpc(port, () => server.close({ drainMs: 200 }));
// BENCH_STALLS=<ms>: log every event-loop stall longer than that (diagnosis only)
if (process.env.BENCH_STALLS) {
  const limit = Number(process.env.BENCH_STALLS);
  let last = performance.now();
  setInterval(() => {
    const t = performance.now();
    if (t - last - 2 > limit)
      console.error(
        `stall ${(t - last - 2).toFixed(1)} ms at ${new Date().toISOString()} (${Math.round(t)} ms since start)`,
      );
    last = t;
  }, 2).unref();
}
