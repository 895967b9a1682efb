import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_SPEC, ConfigError, configHelp, loadConfig } from './config.js';

describe('configuration', () => {
  it('has the seed defaults with no environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      heartbeatIntervalMs: 30_000,
      heartbeatTimeoutMs: 60_000,
      redisUrl: undefined,
      shards: 1,
      siweDomain: 'localhost:8080',
      maxFrameBytes: 65_536,
      rateLimit: 50,
      rateBurst: 100,
      roomMaxPeers: 8,
      turnTtlSec: 3600,
    });
    expect(c.stunUrls).toEqual(['stun:stun.l.google.com:19302', 'stun:stun1.l.google.com:19302']);
  });

  it('reads values and lists', () => {
    const c = loadConfig({
      PORT: '9000',
      STUN_URLS: '',
      P3_ALLOWED_ORIGINS: 'https://app.example, http://localhost:5173',
      REDIS_URL: 'redis://127.0.0.1:6379',
      P3_AUTH_SECRET: 'x'.repeat(32),
    });
    expect(c.port).toBe(9000);
    expect(c.stunUrls).toEqual([]);
    expect(c.allowedOrigins).toEqual(['https://app.example', 'http://localhost:5173']);
    expect(c.siweDomain).toBe('localhost:9000');
  });

  const bad: [Record<string, string>, string, RegExp][] = [
    [{ PORT: 'eighty' }, 'PORT', /integer/],
    [{ PORT: '70000' }, 'PORT', /between/],
    [{ WS_HEARTBEAT_INTERVAL: '-5' }, 'WS_HEARTBEAT_INTERVAL', /between/],
    [{ WS_HEARTBEAT_INTERVAL: '60000', WS_HEARTBEAT_TIMEOUT: '30000' }, 'WS_HEARTBEAT_TIMEOUT', /greater/],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL', /redis:\/\//],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL', /not a URL/],
    [{ REDIS_URL: 'redis://127.0.0.1:6379' }, 'P3_AUTH_SECRET', /required/],
    [{ P3_AUTH_SECRET: 'short' }, 'P3_AUTH_SECRET', /32/],
    [{ P3_SHARDS: '2' }, 'P3_SHARDS', /REDIS_URL/],
    [{ P3_ALLOWED_ORIGINS: 'https://a.example/path' }, 'P3_ALLOWED_ORIGINS', /origin/],
    [{ STUN_URLS: 'http://stun.example' }, 'STUN_URLS', /stun:/],
    [{ TURN_URLS: 'turn:127.0.0.1:3478' }, 'TURN_URLS', /TURN_SECRET/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of/],
    [{ P3_RATE_LIMIT: '200' }, 'P3_RATE_BURST', /at least/],
  ];
  it.each(bad)('refuses %j naming %s', (env, variable, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(message);
    expect((error as ConfigError).message.startsWith(`${variable}:`)).toBe(true);
  });

  it('lists every variable in --help', () => {
    const help = configHelp();
    for (const s of Object.values(CONFIG_SPEC)) expect(help).toContain(s.env);
  });

  it('documents every variable in the README configuration table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const s of Object.values(CONFIG_SPEC)) expect(readme).toContain(`| \`${s.env}\` |`);
  });
});
