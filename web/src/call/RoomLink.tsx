import { useState } from 'react';
import { routeHash } from '../app/route.js';
import type { CallSetup } from './use-call.js';

/** The link others open to join this room. */
export function RoomLink({ setup }: { setup: CallSetup }) {
  const [copied, setCopied] = useState(false);
  const link = `${window.location.origin}/${routeHash({ page: 'call', ...setup, autoJoin: false })}`;
  const copy = () => {
    navigator.clipboard
      ?.writeText(link)
      .then(() => setCopied(true))
      .catch(() => setCopied(false));
  };
  return (
    <div className="row small">
      <label className="row" style={{ flex: 1 }}>
        <span className="muted">Link</span>
        <input
          readOnly
          value={link}
          onFocus={(e) => e.currentTarget.select()}
          aria-label="Link to this call"
        />
      </label>
      <button type="button" onClick={copy}>
        {copied ? 'Copied' : 'Copy link'}
      </button>
    </div>
  );
}
