import { describe, expect, it } from 'vitest';
import { createSession, openStream, publish } from './helpers/lanes.js';
import { spawnServer } from './helpers/process.js';
import { signIn } from './helpers/siwe.js';

describe('SSE lanes in a real server process', () => {
  it('ends open streams on SIGTERM and exits 0', async () => {
    const p = await spawnServer();
    try {
      const u = await signIn(p.url);
      const sid = await createSession(p.url, u.token);
      const s = await openStream(p.url, `/v1/session/${sid}/stream?lanes=access`, { token: u.token });
      await s.waitForEvents(1);
      const r = await publish(p.url, sid, 'access', {
        type: 'key',
        data: { kid: 'k', key: 'do-not-log-me' },
      });
      expect(r.status).toBe(200);
      await s.waitForEvents(2);
      const t0 = Date.now();
      expect(await p.stop('SIGTERM')).toBe(0);
      expect(Date.now() - t0).toBeLessThan(4000); // not held by the drain timeout
      expect(await s.ended).toBe('end');
      // the access lane's contents never reach the logs
      expect(p.output()).not.toContain('do-not-log-me');
    } finally {
      await p.stop('SIGKILL');
    }
  });
});
