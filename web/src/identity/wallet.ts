import type { Eip1193Provider } from '../sdk.js';

/** The browser's injected wallet (`window.ethereum`), if it has one. */
export function injectedWallet(): Eip1193Provider | undefined {
  const eth = (window as { ethereum?: Partial<Eip1193Provider> }).ethereum;
  return eth && typeof eth.request === 'function' ? (eth as Eip1193Provider) : undefined;
}
