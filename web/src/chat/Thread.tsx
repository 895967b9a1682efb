import { useEffect, useRef, useState } from 'react';
import { describeError } from '../app/errors.js';
import { navigate } from '../app/route.js';
import { Address } from '../components/Address.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Composer } from './Composer.js';
import { MessageItem } from './MessageItem.js';
import { useMessaging } from './messaging.js';
import { PresenceDot, presenceText } from './PresenceDot.js';
import { lower } from './store.js';

/** One conversation: messages with receipts, presence, typing, composer and call buttons. */
export function Thread({ peer }: { peer: string }) {
  const m = useMessaging();
  const key = lower(peer);
  const conversation = m.state.conversations[key];
  const presence = m.state.presence[key];
  const typing = m.state.typing[key] === true;
  const listRef = useRef<HTMLOListElement>(null);
  const [callError, setCallError] = useState<string>();
  const { watch, markRead } = m;
  const count = conversation?.messages.length ?? 0;

  useEffect(() => watch(peer), [peer, watch]);
  useEffect(() => {
    // the thread is on screen: what arrived is read
    if (count > 0) markRead(peer);
    listRef.current?.lastElementChild?.scrollIntoView({ block: 'end' });
  }, [peer, count, markRead]);

  const call = (media: 'audio' | 'video') => {
    setCallError(undefined);
    m.invite(peer, media)
      .then((roomId) => navigate({ page: 'call', roomId, media, relay: false, autoJoin: true }))
      .catch((e: unknown) => setCallError(describeError(e)));
  };

  return (
    <section className="thread card" aria-label={`Conversation with ${peer}`}>
      <div className="row">
        <PresenceDot presence={presence} />
        <h2>
          <Address address={peer} />
        </h2>
        <span className="muted small" data-testid="presence">
          {presenceText(presence)}
        </span>
        <span className="row" style={{ marginLeft: 'auto' }}>
          <button type="button" onClick={() => call('audio')}>
            Audio call
          </button>
          <button type="button" onClick={() => call('video')}>
            Video call
          </button>
        </span>
      </div>
      <ErrorNote message={callError} onDismiss={() => setCallError(undefined)} />
      <ol className="messages" ref={listRef} aria-label="Messages" aria-live="polite">
        {count === 0 && <li className="muted small">No messages yet. Say hello.</li>}
        {conversation?.messages.map((msg, i) => (
          <MessageItem key={msg.id ?? msg.clientMsgId ?? i} message={msg} />
        ))}
      </ol>
      <p className="typing" aria-live="polite" data-testid="typing">
        {typing ? 'typing…' : ''}
      </p>
      <Composer peer={peer} />
    </section>
  );
}
