import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawWs } from '../helpers/rawws.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { signIn } from '../helpers/siwe.js';
import { recordFigure } from './figures.js';

/**
 * Cross-site WebSocket hijacking: a page on another origin opens a socket with the
 * victim's cookies or a stolen ?token=. Every upgrade from a foreign, null or look-alike
 * Origin must be refused (403) before any frame is exchanged.
 */
const ALLOWED = 'https://app.example';
const HOSTILE = [
  'https://evil.example',
  'null',
  'https://app.example.evil.example',
  'https://evilapp.example',
  'http://app.example',
  'https://app.example:8443',
  'https://APP.EXAMPLE.evil',
  'file://',
  'https://app.example@evil.example',
  'https://app.example.',
];

describe('cross-site WebSocket hijacking', () => {
  let t: TestServer;
  let token: string;
  beforeAll(async () => {
    t = await startServer({ allowedOrigins: [ALLOWED] });
    ({ token } = await signIn(t.url));
  });
  afterAll(() => t.close());

  it('refuses every hostile Origin on every WebSocket surface, serves allowed and absent ones', async () => {
    const paths = ['/signaling', '/pulse/stream', '/socket.io/?EIO=4&transport=websocket'];
    let attempts = 0;
    let accepted = 0;
    for (const path of paths) {
      const url = `${path}${path.includes('?') ? '&' : '?'}token=${token}`;
      for (const origin of HOSTILE) {
        attempts++;
        try {
          const ws = await RawWs.open(t.port, url, { Origin: origin });
          accepted++;
          ws.destroy();
        } catch (error) {
          expect((error as Error).message).toMatch(/403/);
        }
      }
      for (const headers of [{ Origin: ALLOWED }, {}, { Origin: t.url }] as Record<string, string>[]) {
        const ws = await RawWs.open(t.port, url, headers);
        ws.destroy();
      }
    }
    recordFigure('security', {
      scenario: 'Cross-site WebSocket hijacking',
      reference: 'OWASP CSWSH: check Origin on every upgrade against an allowlist',
      measured: `${attempts} upgrades from foreign, null and look-alike origins on 3 surfaces: accepted ${accepted}`,
      numbers: { attempts, accepted },
    });
    expect(accepted).toBe(0);
  });

  it('refuses hostile origins on REST and Socket.IO polling too', async () => {
    for (const origin of HOSTILE) {
      const res = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
      expect(res.status, origin).toBe(403);
      const rest = await fetch(`${t.url}/v1/session`, {
        method: 'POST',
        headers: { origin, authorization: `Bearer ${token}` },
      });
      expect(rest.status, origin).toBe(403);
    }
  });
});
