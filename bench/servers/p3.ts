import { createRealtimeServer } from '../../src/server/index.js';
import { serveBenchIpc } from '../lib/server-process.js';

// p3-realtime as users run it (auth, validation, rate limits and metrics on), on a free port.
const server = await createRealtimeServer({ config: { port: 0, host: '127.0.0.1', logLevel: 'silent' } });
const { port } = await server.listen();
serveBenchIpc(port);
// a clean exit on SIGTERM lets --cpu-prof write its profile
process.on('SIGTERM', () => process.exit(0));
