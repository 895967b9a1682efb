import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { TEST_DOMAIN } from './server.js';

export function newAccount(): PrivateKeyAccount {
  return privateKeyToAccount(generatePrivateKey());
}

/**
 * fetch, sent again after the Retry-After of a 429 (as a client should): the auth routes
 * limit each IP, and the test files that sign many users in at once all come from 127.0.0.1.
 */
async function fetchPatiently(url: string, init?: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, init);
    if (res.status !== 429 || attempt >= 10) return res;
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? '1')));
  }
}

export async function getNonce(baseUrl: string): Promise<string> {
  const res = await fetchPatiently(`${baseUrl}/v1/auth/nonce`);
  if (res.status !== 200) throw new Error(`nonce: ${res.status}`);
  return ((await res.json()) as { nonce: string }).nonce;
}

export function siweMessage(
  account: PrivateKeyAccount,
  nonce: string,
  overrides: Partial<Parameters<typeof createSiweMessage>[0]> = {},
): string {
  return createSiweMessage({
    address: account.address,
    chainId: 1,
    domain: TEST_DOMAIN,
    nonce,
    uri: `https://${TEST_DOMAIN}/`,
    version: '1',
    issuedAt: new Date(),
    ...overrides,
  });
}

export async function verify(baseUrl: string, message: string, signature: string) {
  const res = await fetchPatiently(`${baseUrl}/v1/auth/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, signature }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** A full sign-in: nonce, SIWE message, signature, token. */
export async function signIn(baseUrl: string, account: PrivateKeyAccount = newAccount()) {
  const nonce = await getNonce(baseUrl);
  const message = siweMessage(account, nonce);
  const signature = await account.signMessage({ message });
  const { status, body } = await verify(baseUrl, message, signature);
  if (status !== 200) throw new Error(`sign-in failed: ${status} ${JSON.stringify(body)}`);
  return { token: body.token as string, address: body.address as `0x${string}`, account };
}
