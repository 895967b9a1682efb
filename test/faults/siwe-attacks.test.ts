import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSiweVerifier, SiweError } from '../../src/server/auth/siwe.js';
import { createMemoryEngine } from '../../src/server/engine/memory.js';
import { startServer, TEST_DOMAIN, type TestServer } from '../helpers/server.js';
import { getNonce, newAccount, siweMessage, verify as verifyOnce } from '../helpers/siwe.js';
import { recordFigure, scale } from './figures.js';

/**
 * Sign-in calls are limited per IP (bursts of 60): like a well-behaved client, wait out a
 * 429 (Retry-After: 1) and try again, so this suite measures the verifier, not the limiter.
 */
async function verify(url: string, message: string, signature: string) {
  for (;;) {
    const res = await verifyOnce(url, message, signature);
    if (res.status !== 429) return res;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/**
 * SIWE attacks: replay, every field of a signed message mutated, high-s twins, other
 * domains, random garbage. Accepted must be 0, crashes 0.
 */
describe('SIWE attacks', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(() => t.close());

  it('accepts no message with any field mutated after signing', async () => {
    const account = newAccount();
    const other = newAccount();
    const nonce = await getNonce(t.url);
    const issuedAt = new Date();
    const message = siweMessage(account, nonce, {
      statement: 'Sign in to p3',
      expirationTime: new Date(Date.now() + 600_000),
      notBefore: new Date(Date.now() - 60_000),
      requestId: 'req-1',
      resources: ['https://p3.test/a'],
      issuedAt,
    });
    const signature = await account.signMessage({ message });
    const lines = message.split('\n');
    const mutations: string[] = [];
    // every line: replaced by a plausible variant, dropped, duplicated
    lines.forEach((line, i) => {
      const variants = [
        line.replace(/[0-9a-f]/, (c) => (c === '0' ? '1' : '0')),
        line.replace(account.address, other.address),
        line.replace(TEST_DOMAIN, 'evil.test'),
        `${line} `,
        line.toUpperCase(),
      ];
      for (const v of variants)
        if (v !== line) mutations.push([...lines.slice(0, i), v, ...lines.slice(i + 1)].join('\n'));
      mutations.push([...lines.slice(0, i), ...lines.slice(i + 1)].join('\n'));
    });
    mutations.push(`${message}\n`, ` ${message}`, message.replace(/\n/g, '\r\n'));
    let accepted = 0;
    for (const m of new Set(mutations)) {
      if (m === message) continue;
      const res = await verify(t.url, m, signature);
      if (res.status === 200) accepted++;
      expect([400, 401]).toContain(res.status);
    }
    // the original still signs in once, then its replay is refused
    expect((await verify(t.url, message, signature)).status).toBe(200);
    const replay = await verify(t.url, message, signature);
    expect(replay.status).toBe(401);
    recordFigure('siwe', {
      scenario: 'SIWE: replay and field mutations',
      reference: 'EIP-4361: a signature binds every field; nonces are single use',
      measured: `${mutations.length} mutated messages and 1 replay: accepted ${accepted}`,
      numbers: { mutations: mutations.length, accepted },
    });
    expect(accepted).toBe(0);
  });

  it('survives random inputs to the verifier: never accepts, never throws anything but SiweError', async () => {
    const engine = createMemoryEngine();
    const siwe = createSiweVerifier({ engine, domain: TEST_DOMAIN });
    const { nonce } = await siwe.issueNonce();
    const account = newAccount();
    const base = siweMessage(account, nonce);
    const sig = await account.signMessage({ message: base });
    let runs = 0;
    let accepted = 0;
    let unexpected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.constantFrom(base),
          fc
            .tuple(fc.nat(base.length), fc.string())
            .map(([i, s]) => base.slice(0, i) + s + base.slice(i + 1)),
          fc.anything(),
        ),
        fc.oneof(
          fc.constantFrom(sig),
          fc
            .string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 130, maxLength: 130 })
            .map((h) => `0x${h}`),
          fc.anything(),
        ),
        async (message, signature) => {
          runs++;
          if (message === base && signature === sig) return;
          try {
            await siwe.verify(message, signature);
            accepted++;
          } catch (error) {
            if (!(error instanceof SiweError)) unexpected++;
          }
        },
      ),
      { numRuns: scale(2_000, 100_000) },
    );
    await engine.close();
    recordFigure('siwe', {
      scenario: 'SIWE verifier fuzzing',
      reference: 'no input crashes the verifier or signs anyone in',
      measured: `${runs} random inputs: accepted ${accepted}, unexpected exceptions ${unexpected}`,
      numbers: { runs, accepted, unexpected },
    });
    expect(accepted).toBe(0);
    expect(unexpected).toBe(0);
  });
});
