/**
 * A Pulse worker node: signs in with an Ethereum key, registers, reports CPU and memory
 * every 5 s and runs `sha256` and `sleep` tasks.
 *
 *   npm start                                   # a server on http://localhost:8080
 *   npx tsx examples/pulse-worker.ts
 *   # then, with the server's P3_SERVICE_KEY, submit a task:
 *   curl -X POST localhost:8080/v1/pulse/tasks -H "authorization: Bearer $P3_SERVICE_KEY" \
 *        -H 'content-type: application/json' -d '{"kind":"sha256","payload":"hello"}'
 *
 * Environment: P3_URL (default http://localhost:8080), P3_PRIVATE_KEY (default: a new key),
 * NODE_ID (default worker-<pid>), P3_SIWE_DOMAIN (default: the URL's host).
 */
import { createHash } from 'node:crypto';
import { freemem, loadavg, totalmem } from 'node:os';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { WebSocket } from 'ws';
import { createAuthSession, createPulseNode, type WebSocketConstructor } from '../src/client/index.js';

const url = process.env.P3_URL ?? 'http://localhost:8080';
const account = privateKeyToAccount((process.env.P3_PRIVATE_KEY as `0x${string}`) ?? generatePrivateKey());
const auth = createAuthSession({
  url,
  signer: account,
  ...(process.env.P3_SIWE_DOMAIN ? { domain: process.env.P3_SIWE_DOMAIN } : {}),
});
auth.on('error', (e) => console.error(`sign-in: ${e.code}: ${e.message}`));
await auth.signIn();
console.log(`signed in as ${auth.address}`);

const node = createPulseNode({
  url,
  token: auth,
  WebSocket: WebSocket as unknown as WebSocketConstructor,
  nodeId: process.env.NODE_ID ?? `worker-${process.pid}`,
  capabilities: ['sha256', 'sleep'],
  version: '1.0.0',
  metrics: () => ({ cpu: loadavg()[0] ?? 0, memory: 1 - freemem() / totalmem() }),
  async handleTask(task, { signal }) {
    switch (task.kind) {
      case 'sha256':
        return createHash('sha256').update(String(task.payload)).digest('hex');
      case 'sleep': {
        const ms = Number(task.payload) || 1000;
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        });
        return { slept: ms };
      }
      default:
        throw new Error(`unknown task kind ${task.kind}`);
    }
  },
});
node.on('state', ({ from, to }) => console.log(`connection: ${from} → ${to}`));
node.on('registered', ({ nodeId }) => console.log(`registered as ${nodeId}`));
node.on('task', (t) => console.log(`task ${t.taskId} (${t.kind}, attempt ${t.attempt})`));
node.on('taskDone', (d) => console.log(`task ${d.taskId} ${d.ok ? 'done' : 'failed'} in ${d.durationMs} ms`));
node.on('error', (e) => console.error(`${e.code}: ${e.message}`));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    node.close();
    auth.close();
    process.exit(0);
  });
}
