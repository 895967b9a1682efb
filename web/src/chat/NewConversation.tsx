import { type FormEvent, useState } from 'react';
import { navigate } from '../app/route.js';
import { ErrorNote } from '../components/ErrorNote.js';

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** Start a conversation by pasting someone's address. */
export function NewConversation({ me }: { me: string }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const address = value.trim();
    if (!ADDRESS.test(address)) {
      setError('An address is 0x followed by 40 hexadecimal characters.');
      return;
    }
    if (address.toLowerCase() === me.toLowerCase()) {
      setError('That is your own address.');
      return;
    }
    setError(undefined);
    setValue('');
    navigate({ page: 'chat', peer: address });
  };
  return (
    <form className="stack" onSubmit={submit}>
      <label>
        Message an address
        <input
          name="peer"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          placeholder="0x…"
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <ErrorNote message={error} />
      <button type="submit">Open conversation</button>
    </form>
  );
}
