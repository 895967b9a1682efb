import { hexToString } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthSession, type Eip1193Provider, signInWithEthereum } from '../src/client/auth.js';
import { ClientError } from '../src/client/errors.js';
import { startServer, TEST_DOMAIN, type TestServer, waitFor } from './helpers/server.js';
import { newAccount } from './helpers/siwe.js';

/** A wallet as a page sees it (`window.ethereum`), backed by a viem account. */
function fakeWallet(account = newAccount(), chainId = 10): Eip1193Provider & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async request({ method, params }) {
      calls.push(method);
      if (method === 'eth_requestAccounts') return [account.address.toLowerCase()];
      if (method === 'eth_chainId') return `0x${chainId.toString(16)}`;
      if (method === 'personal_sign') {
        const [hex, address] = params as [`0x${string}`, string];
        expect(address.toLowerCase()).toBe(account.address.toLowerCase());
        return account.signMessage({ message: hexToString(hex) });
      }
      throw new Error(`unexpected ${method}`);
    },
  };
}

describe('client sign-in against the real /v1/auth', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(() => t.close());

  it('signs in with a viem account', async () => {
    const account = newAccount();
    const res = await signInWithEthereum({ url: t.url, signer: account, domain: TEST_DOMAIN });
    expect(res.address).toBe(account.address);
    expect(await t.server.auth.tokens.verify(res.token)).toMatchObject({ address: account.address });
  });

  it('waits out the per-IP limit of the auth routes (429, Retry-After) instead of failing', async () => {
    // 40 sign-ins from one IP are 80 requests: past the burst of 60, some get 429 first
    const statuses: number[] = [];
    const counting = async (input: string, init?: RequestInit) => {
      const res = await fetch(input, init);
      statuses.push(res.status);
      return res;
    };
    const accounts = Array.from({ length: 40 }, () => newAccount());
    const results = await Promise.all(
      accounts.map((signer) =>
        signInWithEthereum({ url: t.url, signer, domain: TEST_DOMAIN, fetch: counting }),
      ),
    );
    expect(results.map((r) => r.address)).toEqual(accounts.map((a) => a.address));
    expect(statuses).toContain(429);
  });

  it('signs in with an EIP-1193 wallet (personal_sign of the hex message, wallet chain id)', async () => {
    const account = newAccount();
    const wallet = fakeWallet(account, 10);
    const res = await signInWithEthereum({ url: t.url, signer: wallet, domain: TEST_DOMAIN });
    expect(res.address).toBe(account.address);
    expect(wallet.calls).toEqual(['eth_requestAccounts', 'eth_chainId', 'personal_sign']);
  });

  it('reports the server refusal with its code (wrong domain)', async () => {
    const error = await signInWithEthereum({ url: t.url, signer: newAccount(), domain: 'evil.test' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ code: 'unauthorized', status: 401 });
  });

  it('a wallet that refuses to sign gives auth_failed', async () => {
    const wallet: Eip1193Provider = {
      async request({ method }) {
        if (method === 'eth_requestAccounts') return [newAccount().address];
        if (method === 'eth_chainId') return '0x1';
        throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
      },
    };
    await expect(
      signInWithEthereum({ url: t.url, signer: wallet, domain: TEST_DOMAIN }),
    ).rejects.toMatchObject({
      code: 'auth_failed',
    });
  });

  it('an auth session refreshes before expiry and shares one sign-in between callers', async () => {
    const auth = createAuthSession({
      url: t.url,
      signer: newAccount(),
      domain: TEST_DOMAIN,
      // tokens live 24 h here: refresh "24 h minus 2 s" before expiry, i.e. 1-2 s after the
      // sign-in (expiry has whole-second precision), so each token lives at least a second
      refreshBeforeMs: 24 * 3600_000 - 2_000,
    });
    const tokens: string[] = [];
    auth.on('token', (tok) => tokens.push(tok.token));
    const [a, b] = await Promise.all([auth.getToken(), auth.getToken()]);
    expect(a).toBe(b);
    expect(tokens).toHaveLength(1);
    await waitFor(() => tokens.length >= 2, { what: 'a refreshed token' });
    auth.close();
    // the session serves the newest token, a different one, and the server accepts it
    expect(auth.token).toBe(tokens.at(-1));
    expect(tokens[1]).not.toBe(tokens[0]);
    expect(await t.server.auth.tokens.verify(auth.token!)).not.toBeNull();
  });
});
