import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';

/**
 * The local test identity: a private key made in this browser and kept in localStorage.
 * Anyone with access to this browser profile can use it, so it is for trying the app and
 * for tests, never for an identity that matters; the UI says so wherever it is used.
 */
const STORAGE_KEY = 'p3.localTestKey';
const HEX_KEY = /^0x[0-9a-f]{64}$/;

export function hasLocalKey(): boolean {
  return HEX_KEY.test(readStorage() ?? '');
}

/** The address of the stored key, if there is one (nothing is created). */
export function storedLocalAddress(): string | undefined {
  const key = readStorage();
  return key && HEX_KEY.test(key) ? privateKeyToAccount(key as `0x${string}`).address : undefined;
}

/** The stored key's account, creating and storing a new key on first use. */
export function localAccount(): PrivateKeyAccount {
  let key = readStorage();
  if (!key || !HEX_KEY.test(key)) {
    key = generatePrivateKey();
    try {
      localStorage.setItem(STORAGE_KEY, key);
    } catch {
      // storage refused (private mode, quota): the identity lasts for this page only
    }
  }
  return privateKeyToAccount(key as `0x${string}`);
}

/** Deletes the key: the next sign-in creates a new address. */
export function forgetLocalKey(): void {
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {}
}

function readStorage(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}
