import { useEffect, useRef } from 'react';
import { navigate } from '../app/route.js';
import { Address } from '../components/Address.js';
import { useMessaging } from './messaging.js';

/** The ringing prompt, on every page: accept opens the call page, reject tells the caller. */
export function IncomingCall() {
  const { state, accept, reject } = useMessaging();
  const call = state.incoming;
  const acceptRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!call) return;
    acceptRef.current?.focus();
    // Escape declines, as it closes any dialog
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') reject(call);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [call, reject]);
  if (!call) return null;
  return (
    <div
      className="incoming card stack"
      role="alertdialog"
      aria-labelledby="incoming-title"
      aria-describedby="incoming-desc"
    >
      <h2 id="incoming-title">Incoming {call.media} call</h2>
      <p id="incoming-desc">
        <Address address={call.from} /> is calling you. Escape declines.
      </p>
      <div className="row">
        <button
          ref={acceptRef}
          type="button"
          className="primary"
          onClick={() => {
            accept(call);
            navigate({ page: 'call', roomId: call.roomId, media: call.media, relay: false, autoJoin: true });
          }}
        >
          Accept
        </button>
        <button type="button" className="danger" onClick={() => reject(call)}>
          Reject
        </button>
      </div>
    </div>
  );
}
