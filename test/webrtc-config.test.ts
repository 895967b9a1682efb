import { createHmac } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

const TURN_URLS = ['turn:turn.example:3478?transport=udp', 'turn:turn.example:3478?transport=tcp'];

describe('GET /v1/webrtc/config', () => {
  const servers: TestServer[] = [];
  const server = async (config: Parameters<typeof startServer>[0] = {}) => {
    const t = await startServer(config);
    servers.push(t);
    return t;
  };
  afterAll(async () => {
    await Promise.all(servers.map((t) => t.close()));
  });
  const get = (t: TestServer, token: string | undefined, query = '') =>
    fetch(
      `${t.url}/v1/webrtc/config${query}`,
      token ? { headers: { authorization: `Bearer ${token}` } } : {},
    );

  it('needs a user token', async () => {
    const t = await server();
    const res = await get(t, undefined);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect((await get(t, 'forged.token.value')).status).toBe(401);
  });

  it("serves the seed's configuration: public STUN, no TURN, desktop Opus by default", async () => {
    const t = await server();
    const { token } = await signIn(t.url);
    const res = await get(t, token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      iceServers: [{ urls: 'stun:stun.l.google.com:19302' }, { urls: 'stun:stun1.l.google.com:19302' }],
      codecPreferences: { audio: 'opus/48000/2' },
      sdpSemantics: 'unified-plan',
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      iceTransportPolicy: 'all',
      thresholds: { rttMs: 300, packetLossPct: 5, iceTimeoutMs: 8000 },
      turnExpiresAt: null,
    });
    const mobile = (await (await get(t, token, '?device=mobile')).json()) as any;
    expect(mobile.codecPreferences.audio).toBe('opus/24000/2');
    const bad = await get(t, token, '?device=toaster');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe('bad_request');
  });

  it('mints ephemeral coturn REST credentials for the caller with TURN_SECRET', async () => {
    const secret = 'turn-shared-secret';
    const t = await server({ stunUrls: [], turnUrls: TURN_URLS, turnSecret: secret, turnTtlSec: 600 });
    const { token, address } = await signIn(t.url);
    const before = Math.floor(Date.now() / 1000);
    const body = (await (await get(t, token, '?device=desktop')).json()) as any;
    expect(body.iceServers).toHaveLength(1);
    const [turn] = body.iceServers;
    expect(turn.urls).toEqual(TURN_URLS);
    const [expiry, user] = turn.username.split(':');
    expect(user).toBe(address);
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 600);
    expect(Number(expiry)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
    expect(turn.credential).toBe(createHmac('sha1', secret).update(turn.username).digest('base64'));
    expect(body.turnExpiresAt).toBe(Number(expiry) * 1000);
  });

  it('serves the static TURN_USERNAME / TURN_CREDENTIAL without a secret', async () => {
    const t = await server({
      stunUrls: ['stun:stun.example:3478'],
      turnUrls: TURN_URLS,
      turnUsername: 'static-user',
      turnCredential: 'static-pass',
    });
    const { token } = await signIn(t.url);
    const body = (await (await get(t, token)).json()) as any;
    expect(body.iceServers).toEqual([
      { urls: 'stun:stun.example:3478' },
      { urls: TURN_URLS, username: 'static-user', credential: 'static-pass' },
    ]);
    expect(body.turnExpiresAt).toBeNull();
  });

  it('limits how fast one address mints credentials', async () => {
    const t = await server();
    const { token } = await signIn(t.url);
    const statuses = await Promise.all(Array.from({ length: 40 }, () => get(t, token).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(30);
    expect(statuses).toContain(429);
  });
});
