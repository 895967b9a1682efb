import { clock } from '../components/format.js';
import type { ChatMessage, MessageStatus } from './store.js';

const MARKS: Record<MessageStatus, { mark: string; words: string }> = {
  sending: { mark: '…', words: 'sending' },
  sent: { mark: '✓', words: 'sent' },
  delivered: { mark: '✓✓', words: 'delivered' },
  read: { mark: '✓✓ read', words: 'read' },
  failed: { mark: '!', words: 'not sent' },
};

/** One message; its text is rendered as text, never as HTML. */
export function MessageItem({ message }: { message: ChatMessage }) {
  const mark = MARKS[message.status];
  return (
    <li className={message.mine ? 'msg mine' : 'msg'} data-status={message.mine ? message.status : undefined}>
      {message.content}
      <span className="meta">
        {clock(message.timestamp)}
        {message.mine && (
          <>
            {' '}
            <span title={message.error ?? mark.words} data-testid="receipt">
              <span aria-hidden="true">{mark.mark}</span>
              <span className="sr-only">{mark.words}</span>
            </span>
          </>
        )}
        {message.error && <span className="sr-only"> {message.error}</span>}
      </span>
    </li>
  );
}
