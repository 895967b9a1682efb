import { Address } from '../components/Address.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { ConversationList } from './ConversationList.js';
import { useMessaging } from './messaging.js';
import { NewConversation } from './NewConversation.js';
import { Thread } from './Thread.js';

export function ChatPage({ peer }: { peer: string | undefined }) {
  const m = useMessaging();
  return (
    <div className="stack">
      <p className="muted small" role="status" data-testid="messaging-state" data-state={m.connection}>
        {CONNECTION_WORDS[m.connection]}
      </p>
      <ErrorNote message={m.error} onDismiss={m.clearError} />
      <div className="chat-layout">
        <nav className="card stack" aria-label="Conversations">
          <h1>Chat</h1>
          <NewConversation me={m.state.me} />
          <ConversationList state={m.state} current={peer} />
          <p className="muted small">
            Your address, to share: <Address address={m.state.me} />
            <button
              type="button"
              className="link"
              onClick={() => void navigator.clipboard?.writeText(m.state.me)}
            >
              Copy
            </button>
          </p>
        </nav>
        {peer ? (
          <Thread key={peer.toLowerCase()} peer={peer} />
        ) : (
          <section className="card">
            <p>Pick a conversation, or paste an address to start one.</p>
          </section>
        )}
      </div>
    </div>
  );
}

const CONNECTION_WORDS = {
  connecting: 'Connecting to the messaging server…',
  open: 'Connected',
  reconnecting: 'Connection lost: reconnecting… Messages you send are kept until it is back.',
  closed: 'Disconnected',
} as const;
