import { type FormEvent, useId, useState } from 'react';
import { navigate } from '../app/route.js';
import { ErrorNote } from '../components/ErrorNote.js';

const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export function randomRoomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `room-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Pick a room (typed, pasted as a link, or new), the media, and whether to force TURN. */
export function JoinForm({ initialRoom = '' }: { initialRoom?: string }) {
  const [room, setRoom] = useState(initialRoom);
  const [media, setMedia] = useState<'audio' | 'video'>('audio');
  const [relay, setRelay] = useState(false);
  const [error, setError] = useState<string>();
  const id = useId();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    // a pasted link: take the room from its hash
    const fromLink = /#\/call\/([^?]+)/.exec(room)?.[1];
    const roomId = (fromLink ? decodeURIComponent(fromLink) : room).trim() || randomRoomId();
    if (!ROOM_ID.test(roomId)) {
      setError('A room id is 1 to 128 letters, digits or _ . : - (or paste a call link).');
      return;
    }
    navigate({ page: 'call', roomId, media, relay, autoJoin: true });
  };

  return (
    <form className="card stack" onSubmit={submit} aria-labelledby={`${id}-t`}>
      <h1 id={`${id}-t`}>Join a call</h1>
      <label>
        Room id or call link
        <input
          name="room"
          value={room}
          onChange={(e) => setRoom(e.target.value)}
          placeholder="leave empty for a new room"
          autoComplete="off"
        />
      </label>
      <fieldset className="row">
        <legend>Media</legend>
        <label className="check">
          <input type="radio" name="media" checked={media === 'audio'} onChange={() => setMedia('audio')} />{' '}
          Audio
        </label>
        <label className="check">
          <input type="radio" name="media" checked={media === 'video'} onChange={() => setMedia('video')} />{' '}
          Video
        </label>
      </fieldset>
      <label className="check">
        <input type="checkbox" checked={relay} onChange={(e) => setRelay(e.target.checked)} />
        Relay through TURN only (hides your IP address from the other side)
      </label>
      <ErrorNote message={error} />
      <div className="row">
        <button type="submit" className="primary">
          Join
        </button>
      </div>
    </form>
  );
}
