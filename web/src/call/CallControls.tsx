import type { CallView } from './use-call.js';

export function CallControls({
  call,
  video,
  onHangUp,
}: {
  call: CallView;
  video: boolean;
  onHangUp(): void;
}) {
  if (call.status === 'idle' || call.status === 'ended') {
    return (
      <div className="call-controls">
        <button type="button" className="primary" onClick={call.join}>
          {call.status === 'ended' ? 'Join again' : 'Join call'}
        </button>
        <a href="#/chat">Back to chat</a>
      </div>
    );
  }
  const live = call.status === 'active';
  return (
    <div className="call-controls" role="toolbar" aria-label="Call controls">
      <button
        type="button"
        aria-pressed={!call.microphoneOn}
        disabled={!live}
        onClick={call.toggleMicrophone}
      >
        {call.microphoneOn ? 'Mute' : 'Unmute'}
      </button>
      {video && (
        <button type="button" aria-pressed={!call.cameraOn} disabled={!live} onClick={call.toggleCamera}>
          {call.cameraOn ? 'Camera off' : 'Camera on'}
        </button>
      )}
      <button type="button" className="danger" onClick={onHangUp}>
        Hang up
      </button>
    </div>
  );
}
