import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startServer, type TestServer, waitFor } from './helpers/server.js';
import { signIn } from './helpers/siwe.js';

// A client that authenticates with ?token= may send at once, without waiting for auth_ok:
// its frames run, in order, once the token is checked (they count toward the rate limit).
describe('frames sent before ?token= authentication completes', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(() => t.close());

  it.each([
    ['/signaling', { type: 'join', roomId: 'early-room' }, 'joined'],
    [
      '/pulse/stream',
      { type: 'register', data: { nodeId: 'early-node', capabilities: ['x'] } },
      'registered',
    ],
  ])('%s: a frame sent on open is answered after auth_ok', async (path, frame, answer) => {
    const { token } = await signIn(t.url);
    const ws = new WebSocket(`${t.wsUrl}${path}?token=${token}`);
    const types: string[] = [];
    ws.on('message', (raw) => types.push((JSON.parse(String(raw)) as { type: string }).type));
    ws.on('open', () => {
      ws.send(JSON.stringify(frame));
      ws.send(JSON.stringify({ type: 'ping' }));
    });
    await waitFor(() => types.includes(answer), { what: answer });
    expect(types.indexOf('auth_ok')).toBeLessThan(types.indexOf(answer));
    expect(types).not.toContain('error');
    ws.close();
  });

  it('a bad ?token= drops the early frames and closes 1008', async () => {
    const ws = new WebSocket(`${t.wsUrl}/signaling?token=forged`);
    const types: string[] = [];
    ws.on('message', (raw) => types.push((JSON.parse(String(raw)) as { type: string }).type));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', roomId: 'nope' })));
    const code = await new Promise<number>((r) => ws.on('close', (c) => r(c)));
    expect(code).toBe(1008);
    expect(types).not.toContain('joined');
  });
});
