import { Address } from '../components/Address.js';
import { PresenceDot, presenceText } from './PresenceDot.js';
import { type ChatState, lower } from './store.js';

export function ConversationList({ state, current }: { state: ChatState; current: string | undefined }) {
  const list = Object.values(state.conversations).sort(
    (a, b) => (b.messages.at(-1)?.timestamp ?? 0) - (a.messages.at(-1)?.timestamp ?? 0),
  );
  if (list.length === 0) return <p className="muted small">No conversations yet.</p>;
  return (
    <ul className="conversations" aria-label="Conversations">
      {list.map((c) => {
        const p = state.presence[lower(c.peer)];
        return (
          <li key={c.peer}>
            <a
              href={`#/chat/${c.peer}`}
              aria-current={current && lower(current) === lower(c.peer) ? 'page' : undefined}
            >
              <PresenceDot presence={p} />
              <span className="stack" style={{ gap: 0 }}>
                <Address address={c.peer} />
                <span className="muted small">{presenceText(p)}</span>
              </span>
              {c.unread > 0 && (
                <span className="unread">
                  {c.unread}
                  <span className="sr-only"> unread</span>
                </span>
              )}
            </a>
          </li>
        );
      })}
    </ul>
  );
}
