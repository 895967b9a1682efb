import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';

/** The browser bundle of the SDK (vite.client.config.ts): it builds, stays small, stays browser-only. */
describe('client browser bundle', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'p3-client-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('builds without zod or Node built-ins, within its size budget', async () => {
    // vitest runs with NODE_ENV=test, which would keep the dependencies' development code
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    await build({
      configFile: 'vite.client.config.ts',
      mode: 'production',
      logLevel: 'silent',
      build: { outDir, sourcemap: false },
    }).finally(() => {
      process.env.NODE_ENV = nodeEnv;
    });
    const code = readFileSync(join(outDir, 'p3-realtime-client.js'));
    const gzip = gzipSync(code).length;
    console.log(
      `p3-realtime-client.js: ${(code.length / 1024).toFixed(1)} kB, gzip ${(gzip / 1024).toFixed(1)} kB`,
    );
    const text = code.toString();
    // zod stays on the server: the protocol schemas must tree-shake away
    expect(text).not.toMatch(/ZodError|zod\/v4/);
    expect(text).not.toMatch(/from\s*["'`]node:|require\(["'`](ws|node:)/);
    expect(code.length).toBeLessThan(130 * 1024);
    expect(gzip).toBeLessThan(40 * 1024);
    const sdk = await import(join(outDir, 'p3-realtime-client.js'));
    for (const name of [
      'createAuthSession',
      'createReconnectingSocket',
      'createSignalingClient',
      'createCall',
      'createQualityMonitor',
      'createMessagingClient',
      'createLaneClient',
      'createPulseNode',
      'createPulseDashboard',
    ]) {
      expect(typeof sdk[name]).toBe('function');
    }
  }, 60_000);
});
