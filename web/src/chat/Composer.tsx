import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { useMessaging } from './messaging.js';

/** Typing stops being announced this long after the last keystroke. */
const TYPING_IDLE_MS = 3000;

/** Enter sends, Shift+Enter starts a new line; typing is announced while keys are pressed. */
export function Composer({ peer }: { peer: string }) {
  const { send, setTyping } = useMessaging();
  const [text, setText] = useState('');
  const typing = useRef(false);
  const idle = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const stopTyping = () => {
    clearTimeout(idle.current);
    if (typing.current) setTyping(peer, false);
    typing.current = false;
  };
  // leaving the conversation stops the indicator
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on peer change only
  useEffect(() => stopTyping, [peer]);

  const onChange = (value: string) => {
    setText(value);
    if (!typing.current && value.length > 0) {
      typing.current = true;
      setTyping(peer, true);
    }
    clearTimeout(idle.current);
    idle.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  };
  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const content = text.trim();
    if (!content) return;
    send(peer, content);
    setText('');
    stopTyping();
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  };
  return (
    <form className="composer" onSubmit={submit}>
      <textarea
        aria-label="Message"
        placeholder="Write a message"
        value={text}
        rows={1}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <button type="submit" className="primary">
        Send
      </button>
    </form>
  );
}
