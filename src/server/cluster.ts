import cluster from 'node:cluster';
import type { Config } from './config.js';
import { createRealtimeServer } from './index.js';

/**
 * The shard manager: P3_SHARDS worker processes share one port. The primary accepts
 * connections and hands them to workers round-robin (node:cluster's default scheduling
 * outside Windows), which balances connections; state is shared through Redis, so any
 * worker serves any client. A worker that dies is replaced.
 */
export async function runShards(config: Config): Promise<number> {
  if (cluster.isPrimary) {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    let stopping = false;
    const fork = () => cluster.fork({ P3_SHARDS: '1', P3_SHARD_WORKER: '1' });
    for (let i = 0; i < config.shards; i++) fork();
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      process.stderr.write(
        `p3-realtime: shard ${worker.process.pid} exited (${signal ?? code}); restarting\n`,
      );
      fork();
    });
    await new Promise<void>((resolve) => {
      const stop = () => {
        stopping = true;
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
        const check = setInterval(() => {
          if (Object.keys(cluster.workers ?? {}).length === 0) {
            clearInterval(check);
            resolve();
          }
        }, 50);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    return 0;
  }
  const server = await createRealtimeServer({ config: { ...config, shards: 1 } });
  await server.listen();
  await new Promise<void>((resolve) => {
    const stop = () => void server.close().finally(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}
