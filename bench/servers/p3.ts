// p3-realtime as users run it: the compiled server (`npm run build`, as `npm start` does),
// with auth, validation, rate limits and metrics on, on a free port.
import { serveBenchIpc } from '../lib/server-process.js';

const { createRealtimeServer } = (await import(
  new URL('../../dist/server/index.js', import.meta.url).href
)) as typeof import('../../src/server/index.js');
const server = await createRealtimeServer({ config: { port: 0, host: '127.0.0.1', logLevel: 'silent' } });
const { port } = await server.listen();
serveBenchIpc(port);
// a clean exit on SIGTERM lets --cpu-prof write its profile
process.on('SIGTERM', () => process.exit(0));
