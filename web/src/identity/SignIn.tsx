import { useState } from 'react';
import { Address } from '../components/Address.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { useIdentity } from './identity.js';
import { forgetLocalKey, storedLocalAddress } from './local-key.js';

/** The first screen: a wallet when the browser has one, else a local test identity. */
export function SignIn() {
  const { busy, error, walletAvailable, signIn } = useIdentity();
  const [stored, setStored] = useState(storedLocalAddress);
  return (
    <section className="card sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p>
        p3-realtime knows you by an Ethereum address. You prove it by signing a Sign-In with Ethereum message;
        nothing is sent on chain and nothing costs gas.
      </p>
      {walletAvailable ? (
        <button type="button" className="primary" disabled={busy} onClick={() => void signIn('wallet')}>
          Sign in with your wallet
        </button>
      ) : (
        <p className="muted">No wallet extension was found in this browser.</p>
      )}
      <div className="local-identity">
        <button
          type="button"
          className={walletAvailable ? undefined : 'primary'}
          disabled={busy}
          onClick={() => void signIn('local')}
        >
          Use a local test identity
        </button>
        {stored && (
          <p className="small">
            This browser already holds the test identity <Address address={stored} />.{' '}
            <button
              type="button"
              className="link"
              disabled={busy}
              onClick={() => {
                forgetLocalKey();
                setStored(undefined);
              }}
            >
              Delete it
            </button>{' '}
            to get a new address next time.
          </p>
        )}
        <p className="muted small">
          A private key is created in this browser and kept in its local storage. It is a test identity:
          anyone using this browser profile can use it, and clearing site data loses it.
        </p>
      </div>
      {busy && (
        <p role="status" aria-live="polite">
          Signing in…
        </p>
      )}
      <ErrorNote message={error} />
    </section>
  );
}
