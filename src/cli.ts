#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError, configHelp, loadConfig } from './server/config.js';
import { createRealtimeServer } from './server/index.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const HELP = `p3-realtime ${pkg.version}: real-time server (WebRTC signaling, Socket.IO messaging, SSE lanes, Pulse)

Usage: p3-realtime [--help] [--version]

Configuration comes from the environment:

${configHelp()}
`;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const unknown = argv.filter((a) => a.startsWith('-'));
  if (unknown.length) {
    process.stderr.write(`p3-realtime: unknown option ${unknown[0]} (see --help)\n`);
    return 2;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`p3-realtime: invalid configuration: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (config.shards > 1) {
    const { runShards } = await import('./server/cluster.js');
    return runShards(config);
  }
  const server = await createRealtimeServer({ config });
  await server.listen();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      server.logger.info({ signal }, 'shutting down');
      server.close().then(resolve, (error) => {
        server.logger.error({ err: error }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // sockets still half-closed after the drain deadline must not keep the process up
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (error) => {
    process.stderr.write(`p3-realtime: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
