import { type FormEvent, useState } from 'react';
import { ErrorNote } from '../components/ErrorNote.js';

/** Submit a task (service key): kind and a JSON payload. */
export function SubmitTask({ onSubmit }: { onSubmit(kind: string, payload: unknown): Promise<string> }) {
  const [kind, setKind] = useState('echo');
  const [payload, setPayload] = useState('{"hello":"world"}');
  const [error, setError] = useState<string>();
  const [last, setLast] = useState<string>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = payload.trim() ? JSON.parse(payload) : undefined;
    } catch {
      setError('The payload is not valid JSON.');
      return;
    }
    setError(undefined);
    onSubmit(kind.trim(), parsed).then(
      (taskId) => setLast(taskId),
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="submit-task-title">
      <h2 id="submit-task-title">Submit a task</h2>
      <div className="grid-2">
        <label>
          Kind (a node capability)
          <input value={kind} onChange={(e) => setKind(e.target.value)} required />
        </label>
        <label>
          Payload (JSON)
          <input value={payload} onChange={(e) => setPayload(e.target.value)} spellCheck={false} />
        </label>
      </div>
      <ErrorNote message={error} />
      <div className="row">
        <button type="submit">Submit</button>
        {last && <span className="muted small">Queued as {last.slice(0, 8)}</span>}
      </div>
    </form>
  );
}
