import { describe, expect, it } from 'vitest';
import { runCli, spawnServer } from './helpers/process.js';

describe('p3-realtime CLI', () => {
  it('lists every variable with --help', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const v of [
      'PORT',
      'REDIS_URL',
      'WS_HEARTBEAT_INTERVAL',
      'P3_AUTH_SECRET',
      'TURN_SECRET',
      'P3_SHARDS',
    ]) {
      expect(stdout).toContain(v);
    }
  });

  it('stops at start-up on a bad value, naming the variable', async () => {
    const { code, stderr } = await runCli([], { WS_HEARTBEAT_TIMEOUT: 'soon' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/WS_HEARTBEAT_TIMEOUT: expected an integer/);
  });

  it('shuts down gracefully on SIGTERM and SIGINT with exit code 0', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const s = await spawnServer();
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
      expect(await s.stop(signal)).toBe(0);
      expect(s.output()).toContain('p3-realtime stopped');
    }
  });

  it('never logs tokens or secrets', async () => {
    const s = await spawnServer({ LOG_LEVEL: 'debug' });
    const res = await fetch(`${s.url}/nope?token=SECRET-TOKEN-VALUE`, {
      headers: { authorization: 'Bearer SECRET-TOKEN-VALUE' },
    });
    expect(res.status).toBe(404);
    await s.stop();
    expect(s.output()).not.toContain('SECRET-TOKEN-VALUE');
    expect(s.output()).not.toContain('test-secret-0123456789');
  });
});
