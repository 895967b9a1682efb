import { clock } from '../components/format.js';
import type { CallLogEntry } from './use-call.js';

/** Who joined and left, newest last; announced politely to screen readers. */
export function CallLog({ entries }: { entries: CallLogEntry[] }) {
  return (
    <section className="card" aria-label="Call events">
      <h3>Events</h3>
      <ul className="events" aria-live="polite">
        {entries.length === 0 && <li className="muted">Nothing yet.</li>}
        {entries.map((e) => (
          <li key={e.id}>
            <span className="muted">{clock(e.at)}</span> {e.text}
          </li>
        ))}
      </ul>
    </section>
  );
}
