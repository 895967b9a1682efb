import { type FormEvent, useState } from 'react';

/**
 * The service key unlocks task details (results, errors) and submitting tasks. It is held
 * in memory only: never written to storage, gone on reload, and sent only to this server.
 */
export function ServiceKey({
  value,
  onChange,
}: {
  value: string | undefined;
  onChange(key: string | undefined): void;
}) {
  const [draft, setDraft] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (draft.trim()) onChange(draft.trim());
    setDraft('');
  };
  if (value) {
    return (
      <div className="row small">
        <span>Service key set for this page (kept in memory only).</span>
        <button type="button" className="link" onClick={() => onChange(undefined)}>
          Forget it
        </button>
      </div>
    );
  }
  return (
    <form className="row small" onSubmit={submit}>
      <label className="row" style={{ flex: 1 }}>
        <span>Service key</span>
        <input
          type="password"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          autoComplete="off"
          aria-describedby="service-key-help"
        />
      </label>
      <button type="submit">Use key</button>
      <p id="service-key-help" className="muted" style={{ flexBasis: '100%', margin: 0 }}>
        Without it the dashboard shows what the pulse stream tells every signed-in user: nodes, metrics and
        task status. With the server's P3_SERVICE_KEY it also reads each finished task's result and can submit
        tasks. The key stays in this page's memory and is forgotten on reload. It is an operator key: enter it
        only on a device you trust.
      </p>
    </form>
  );
}
