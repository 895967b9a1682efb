import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { describeError } from '../app/errors.js';
import { type AuthSession, createAuthSession, type Signer } from '../sdk.js';
import { forgetLocalKey, hasLocalKey, localAccount } from './local-key.js';
import { injectedWallet } from './wallet.js';

export type IdentityKind = 'local' | 'wallet';

export interface SignedIn {
  kind: IdentityKind;
  address: string;
  /** The token source every SDK client takes. */
  session: AuthSession;
}

export interface IdentityState {
  user: SignedIn | undefined;
  busy: boolean;
  error: string | undefined;
  walletAvailable: boolean;
  signIn(kind: IdentityKind): Promise<void>;
  signOut(options?: { forgetKey?: boolean }): void;
}

const IdentityContext = createContext<IdentityState | undefined>(undefined);
const CHOICE_KEY = 'p3.identity';

function remembered(): string | null {
  try {
    return localStorage.getItem(CHOICE_KEY);
  } catch {
    return null;
  }
}

function remember(kind: IdentityKind | undefined) {
  try {
    if (kind) localStorage.setItem(CHOICE_KEY, kind);
    else localStorage.removeItem(CHOICE_KEY);
  } catch {
    // storage refused: the choice lasts for this page only
  }
}

/** The server this page came from: the app is served by the realtime server itself. */
export const serverUrl = (): string => window.location.origin;

/**
 * Who the user is. A local test identity signs in again by itself on reload (no prompt is
 * involved); a wallet waits for a click, because signing opens the wallet's dialog.
 */
export function IdentityProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<SignedIn>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const sessionRef = useRef<AuthSession | undefined>(undefined);

  const signIn = useCallback(async (kind: IdentityKind) => {
    setBusy(true);
    setError(undefined);
    sessionRef.current?.close();
    try {
      const wallet = injectedWallet();
      if (kind === 'wallet' && !wallet) throw new Error('This browser has no wallet extension.');
      const signer: Signer = kind === 'wallet' && wallet ? wallet : localAccount();
      const session = createAuthSession({
        url: serverUrl(),
        signer,
        statement: 'Sign in to p3-realtime.',
        // a wallet asks the user for every signature: refresh only when a token is needed
        autoRefresh: kind === 'local',
      });
      sessionRef.current = session;
      const { address } = await session.signIn();
      // a later sign-in (or sign-out) replaced this one while it ran
      if (sessionRef.current !== session) return;
      remember(kind);
      setUser({ kind, address, session });
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }, []);

  const signOut = useCallback((options: { forgetKey?: boolean } = {}) => {
    sessionRef.current?.close();
    sessionRef.current = undefined;
    remember(undefined);
    if (options.forgetKey) forgetLocalKey();
    setUser(undefined);
  }, []);

  useEffect(() => {
    if (remembered() === 'local' && hasLocalKey()) void signIn('local');
    return () => sessionRef.current?.close();
  }, [signIn]);

  const value = useMemo<IdentityState>(
    () => ({ user, busy, error, walletAvailable: injectedWallet() !== undefined, signIn, signOut }),
    [user, busy, error, signIn, signOut],
  );
  return <IdentityContext.Provider value={value}>{children}</IdentityContext.Provider>;
}

export function useIdentity(): IdentityState {
  const ctx = useContext(IdentityContext);
  if (!ctx) throw new Error('useIdentity outside IdentityProvider');
  return ctx;
}

/** The signed-in user, for pages that only render after sign-in. */
export function useUser(): SignedIn {
  const { user } = useIdentity();
  if (!user) throw new Error('useUser before sign-in');
  return user;
}
