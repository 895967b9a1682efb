import { useEffect, useRef } from 'react';
import { useMessaging } from '../chat/messaging.js';
import { Address } from '../components/Address.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { useUser } from '../identity/identity.js';
import { CallControls } from './CallControls.js';
import { CallLog } from './CallLog.js';
import { MediaTile } from './MediaTile.js';
import { QualityPanel } from './QualityPanel.js';
import { RoomLink } from './RoomLink.js';
import { type CallSetup, useCall } from './use-call.js';

const STATUS_WORDS = {
  idle: 'Not joined yet',
  joining: 'Joining…',
  active: 'In the call',
  ended: 'Call ended',
} as const;

const REASON_WORDS: Record<string, string> = {
  missed: 'did not answer.',
  cancelled: 'cancelled the call.',
  answered_elsewhere: 'answered on another device.',
  rejected_elsewhere: 'declined on another device.',
  left: 'left (no device of theirs is connected).',
};

function newsWords(news: { what: 'accepted' | 'rejected' | 'ended'; reason?: string }): string {
  if (news.reason && REASON_WORDS[news.reason]) return REASON_WORDS[news.reason]!;
  return { accepted: 'accepted the call.', rejected: 'declined the call.', ended: 'ended the call.' }[
    news.what
  ];
}

export function InCall({ setup, autoJoin }: { setup: CallSetup; autoJoin: boolean }) {
  const { address } = useUser();
  const call = useCall(setup);
  const { join, hangUp, status } = call;
  const { state: chat, endCall } = useMessaging();
  useEffect(() => {
    if (autoJoin) join();
  }, [autoJoin, join]);
  // a call placed from chat: the callee declining ends it here too
  const news = chat.callNews?.roomId === setup.roomId ? chat.callNews : undefined;
  useEffect(() => {
    if (news?.what === 'rejected' && status === 'active') hangUp();
  }, [news, status, hangUp]);
  const leave = () => {
    hangUp();
    endCall(setup.roomId);
  };
  // leaving the page while in the call (another tab of the app, the back button) ends it as
  // Hang up does: otherwise the server keeps both sides busy and the next call to them fails
  const inCall = useRef(false);
  inCall.current = status === 'joining' || status === 'active';
  useEffect(
    () => () => {
      if (inCall.current) endCall(setup.roomId);
    },
    [endCall, setup.roomId],
  );
  // a join that failed (no microphone, a full room) ends the call placed from chat too: the
  // other side is told, and neither stays busy for a call nobody is in
  const failed = status === 'ended' && call.error !== undefined;
  useEffect(() => {
    if (failed) endCall(setup.roomId);
  }, [failed, endCall, setup.roomId]);
  const video = setup.media === 'video';
  const waiting = call.status === 'active' && call.peers.length === 0;

  return (
    <div className="stack">
      <div className="row">
        <h1>
          {video ? 'Video' : 'Audio'} call <span className="address">{setup.roomId}</span>
        </h1>
        {setup.relay && <span className="badge">TURN relay only</span>}
      </div>
      <p role="status" aria-live="polite" data-testid="call-status" data-status={call.status}>
        {STATUS_WORDS[call.status]}
        {waiting && ' · waiting for someone to join'}
        {call.status === 'active' &&
          call.peers.length > 0 &&
          ` · ${call.peers.length} other ${call.peers.length === 1 ? 'person' : 'people'}`}
      </p>
      {news && (
        <p className="notice" role="status">
          <Address address={news.from} /> {newsWords(news)}
        </p>
      )}
      <ErrorNote message={call.error} onDismiss={call.clearError} />
      <RoomLink setup={setup} />
      <CallControls call={call} video={video} onHangUp={leave} />
      <div className="call-layout">
        <div className="videos">
          {call.localStream && (
            <MediaTile
              stream={call.localStream}
              local
              video={video && call.cameraOn}
              address={address}
              caption="You"
            />
          )}
          {call.peers.map((p) => (
            <MediaTile
              key={p.peerId}
              stream={p.stream}
              video={video}
              address={p.address}
              caption={p.connectionState}
            />
          ))}
        </div>
        <aside className="stack" aria-label="Call quality and events">
          {call.peers.map((p) => (
            <QualityPanel key={p.peerId} peer={p} />
          ))}
          <CallLog entries={call.log} />
        </aside>
      </div>
    </div>
  );
}
