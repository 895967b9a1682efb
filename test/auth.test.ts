import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, startServer, type TestServer } from './helpers/server.js';
import { getNonce, newAccount, signIn, siweMessage, verify } from './helpers/siwe.js';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The high-s twin of a valid signature: same r, s' = n - s, flipped recovery id. */
function highSTwin(signature: string): string {
  const r = signature.slice(2, 66);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  const s2 = (N - s).toString(16).padStart(64, '0');
  const v2 = (v === 27 ? 28 : 27).toString(16);
  return `0x${r}${s2}${v2}`;
}

describe('Sign-In with Ethereum (one node)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(() => t.close());

  it('issues nonces: alphanumeric, >= 16 chars, 5 minute expiry, each different', async () => {
    const res = await fetch(`${t.url}/v1/auth/nonce`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { nonce: string; expiresAt: number };
    expect(body.nonce).toMatch(/^[A-Za-z0-9]{16,}$/);
    expect(body.expiresAt - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(body.expiresAt - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    expect(await getNonce(t.url)).not.toBe(body.nonce);
  });

  it('signs in with a valid message and returns a checksummed address and a working token', async () => {
    const account = newAccount();
    const { token, address } = await signIn(t.url, account);
    expect(address).toBe(account.address);
    expect(await t.server.auth.tokens.verify(token)).toMatchObject({ address: account.address });
  });

  it('refuses a replayed nonce', async () => {
    const account = newAccount();
    const nonce = await getNonce(t.url);
    const message = siweMessage(account, nonce);
    const signature = await account.signMessage({ message });
    expect((await verify(t.url, message, signature)).status).toBe(200);
    const again = await verify(t.url, message, signature);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('unauthorized');
    expect(again.body.error.message).toMatch(/nonce/);
  });

  it('refuses a nonce the server never issued', async () => {
    const account = newAccount();
    const message = siweMessage(account, 'NeverIssuedNonce12345');
    const res = await verify(t.url, message, await account.signMessage({ message }));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/nonce/);
  });

  it('refuses another domain', async () => {
    const account = newAccount();
    const message = siweMessage(account, await getNonce(t.url), { domain: 'evil.example' });
    const res = await verify(t.url, message, await account.signMessage({ message }));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/domain/);
  });

  it('refuses an expired message', async () => {
    const account = newAccount();
    const message = siweMessage(account, await getNonce(t.url), {
      issuedAt: new Date(Date.now() - 120_000),
      expirationTime: new Date(Date.now() - 1_000),
    });
    const res = await verify(t.url, message, await account.signMessage({ message }));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
  });

  it('refuses notBefore in the future and issuedAt far in the future', async () => {
    const account = newAccount();
    let message = siweMessage(account, await getNonce(t.url), { notBefore: new Date(Date.now() + 60_000) });
    let res = await verify(t.url, message, await account.signMessage({ message }));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/notBefore/);
    message = siweMessage(account, await getNonce(t.url), { issuedAt: new Date(Date.now() + 10 * 60_000) });
    res = await verify(t.url, message, await account.signMessage({ message }));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/future/);
  });

  it('refuses a tampered message and a signature by another key, and keeps the nonce usable', async () => {
    const account = newAccount();
    const nonce = await getNonce(t.url);
    const message = siweMessage(account, nonce, { statement: 'Sign in to p3' });
    const signature = await account.signMessage({ message });
    const tampered = message.replace('Sign in to p3', 'Sign in to p4');
    expect((await verify(t.url, tampered, signature)).status).toBe(401);
    const other = newAccount();
    expect((await verify(t.url, message, await other.signMessage({ message }))).status).toBe(401);
    // a failed attempt by someone else does not burn the owner's nonce
    expect((await verify(t.url, message, signature)).status).toBe(200);
  });

  it('refuses malformed signatures and bodies with clear errors', async () => {
    const account = newAccount();
    const message = siweMessage(account, await getNonce(t.url));
    for (const sig of ['0x1234', 'zz', `0x${'g'.repeat(130)}`, '', `0x${'00'.repeat(66)}`]) {
      const res = await verify(t.url, message, sig);
      expect(res.status).toBe(401);
      expect(res.body.error.message).toMatch(/signature/);
    }
    const notJson = await fetch(`${t.url}/v1/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"message":',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as any).error.code).toBe('bad_request');
    const wrongTypes = await fetch(`${t.url}/v1/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 42, signature: ['x'] }),
    });
    expect(wrongTypes.status).toBe(400);
    expect((await verify(t.url, 'not a siwe message', `0x${'11'.repeat(65)}`)).status).toBe(401);
  });

  it('refuses the high-s twin of a valid signature', async () => {
    const account = newAccount();
    const message = siweMessage(account, await getNonce(t.url));
    const signature = await account.signMessage({ message });
    const res = await verify(t.url, message, highSTwin(signature));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/lower half/);
    expect((await verify(t.url, message, signature)).status).toBe(200);
  });

  it('treats lowercase and checksummed forms of an address as one identity', async () => {
    const account = newAccount();
    const nonce = await getNonce(t.url);
    const message = siweMessage(account, nonce).replace(account.address, account.address.toLowerCase());
    expect(message).toContain(account.address.toLowerCase());
    const res = await verify(t.url, message, await account.signMessage({ message }));
    expect(res.status).toBe(200);
    expect(res.body.address).toBe(account.address);
    const second = await signIn(t.url, account);
    expect(second.address).toBe(res.body.address);
  });

  it('rejects forged and expired tokens', async () => {
    const { token } = await signIn(t.url);
    const [h, p] = token.split('.');
    expect(await t.server.auth.tokens.verify(`${h}.${p}.${'A'.repeat(43)}`)).toBeNull();
    expect(await t.server.auth.tokens.verify('garbage')).toBeNull();
    const other = await startServer({ authSecret: 'another-secret-0123456789-abcdefghijkl' });
    try {
      expect(await other.server.auth.tokens.verify(token)).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('limits how fast one address can ask for nonces', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 100 }, () => fetch(`${t.url}/v1/auth/nonce`).then((r) => r.status)),
    );
    expect(statuses).toContain(429);
  });
});

describe('Sign-In with Ethereum across two nodes on one Redis', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    [a, b] = await startCluster();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('accepts a nonce issued by node A once on node B, then never again on either', async () => {
    const account = newAccount();
    const nonce = await getNonce(a.url);
    const message = siweMessage(account, nonce);
    const signature = await account.signMessage({ message });
    const first = await verify(b.url, message, signature);
    expect(first.status).toBe(200);
    expect((await verify(b.url, message, signature)).status).toBe(401);
    expect((await verify(a.url, message, signature)).status).toBe(401);
    // the token from B is valid on A
    expect(await a.server.auth.tokens.verify(first.body.token)).toMatchObject({ address: account.address });
  });

  it('lets exactly one of concurrent sign-ins with one nonce win', async () => {
    const account = newAccount();
    const message = siweMessage(account, await getNonce(a.url));
    const signature = await account.signMessage({ message });
    const results = await Promise.all([
      verify(a.url, message, signature),
      verify(b.url, message, signature),
      verify(a.url, message, signature),
      verify(b.url, message, signature),
    ]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
  });
});
