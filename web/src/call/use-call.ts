import { useCallback, useEffect, useRef, useState } from 'react';
import { describeError } from '../app/errors.js';
import { shortAddress } from '../components/Address.js';
import { serverUrl, useUser } from '../identity/identity.js';
import {
  type Call,
  createCall,
  createSignalingClient,
  type NetworkQuality,
  type SignalingClient,
  type StatsData,
} from '../sdk.js';
import { pushSample } from './history.js';
import { relayOnlyPeerConnection } from './relay.js';

export type CallStatus = 'idle' | 'joining' | 'active' | 'ended';

/** One remote device in the call, as the page shows it. */
export interface PeerView {
  peerId: string;
  address: string;
  connection: RTCPeerConnection;
  connectionState: RTCPeerConnectionState;
  stream: MediaStream | undefined;
  level: NetworkQuality;
  history: StatsData[];
}

export interface CallLogEntry {
  id: number;
  at: number;
  text: string;
}

export interface CallSetup {
  roomId: string;
  media: 'audio' | 'video';
  relay: boolean;
}

export interface CallView {
  status: CallStatus;
  error: string | undefined;
  peers: PeerView[];
  localStream: MediaStream | undefined;
  microphoneOn: boolean;
  cameraOn: boolean;
  log: CallLogEntry[];
  join(): void;
  hangUp(): void;
  toggleMicrophone(): void;
  toggleCamera(): void;
  clearError(): void;
}

const MAX_LOG = 50;

/**
 * The call of one room, driven by the SDK's `createCall`: joins on demand, follows peers,
 * their connection states, remote streams and quality samples, and ends the call when the
 * page goes away.
 */
interface Attempt {
  stopped: boolean;
  stream: MediaStream | undefined;
  signaling: SignalingClient | undefined;
  call: Call | undefined;
}

/** Ends one attempt whatever stage it reached: call, signaling connection, camera and mic. */
function teardown(run: Attempt | undefined) {
  if (!run) return;
  // idempotent: a stage that completes after a stop releases what it acquired
  run.stopped = true;
  run.call?.end();
  run.signaling?.close();
  for (const t of run.stream?.getTracks() ?? []) t.stop();
}

/**
 * The call of one room, driven by the SDK's `createCall`. The page owns the media and the
 * signaling connection it hands to the call, so leaving at any moment (even while joining)
 * releases the camera, the microphone and the room seat.
 */
export function useCall(setup: CallSetup): CallView {
  const { session } = useUser();
  const attempt = useRef<Attempt | undefined>(undefined);
  const [status, setStatus] = useState<CallStatus>('idle');
  const [error, setError] = useState<string>();
  const [peers, setPeers] = useState<Record<string, PeerView>>({});
  const [localStream, setLocalStream] = useState<MediaStream>();
  const [microphoneOn, setMicrophoneOn] = useState(true);
  const [cameraOn, setCameraOn] = useState(true);
  const [log, setLog] = useState<CallLogEntry[]>([]);
  const logId = useRef(0);

  const note = useCallback((text: string) => {
    setLog((l) => [...l.slice(-(MAX_LOG - 1)), { id: ++logId.current, at: Date.now(), text }]);
  }, []);
  const patchPeer = useCallback((peerId: string, patch: (p: PeerView) => Partial<PeerView>) => {
    setPeers((all) => {
      const p = all[peerId];
      return p ? { ...all, [peerId]: { ...p, ...patch(p) } } : all;
    });
  }, []);

  const wire = useCallback(
    (call: Call, live: () => boolean) => {
      call.on('state', ({ to }) => live() && setStatus(to));
      call.on('peer_joined', (peer) => {
        const pc = peer.connection;
        pc.addEventListener('connectionstatechange', () =>
          patchPeer(peer.peerId, () => ({ connectionState: pc.connectionState })),
        );
        setPeers((all) => ({
          ...all,
          [peer.peerId]: {
            peerId: peer.peerId,
            address: peer.address,
            connection: pc,
            connectionState: pc.connectionState,
            stream: undefined,
            level: peer.quality,
            history: [],
          },
        }));
        note(`${shortAddress(peer.address)} joined`);
      });
      call.on('peer_left', ({ peerId, address, ended }) => {
        setPeers((all) => {
          const { [peerId]: _gone, ...rest } = all;
          return rest;
        });
        if (live()) note(`${shortAddress(address)} ${ended ? 'hung up' : 'left'}`);
      });
      call.on('track', ({ peerId, track, streams }) => {
        patchPeer(peerId, (p) => {
          const stream = streams[0] ?? p.stream ?? new MediaStream();
          if (!stream.getTracks().includes(track)) stream.addTrack(track);
          return { stream };
        });
      });
      call.on('stats', ({ peerId, stats }) =>
        patchPeer(peerId, (p) => ({ history: pushSample(p.history, stats) })),
      );
      call.on('quality', ({ peerId, to }) => patchPeer(peerId, () => ({ level: to })));
      call.on('iceRestart', ({ reason }) => note(`Reconnecting media (${reason})`));
      call.on('error', (e) => live() && setError(describeError(e)));
    },
    [note, patchPeer],
  );

  const join = useCallback(() => {
    if (attempt.current && !attempt.current.stopped) return;
    const run: Attempt = { stopped: false, stream: undefined, signaling: undefined, call: undefined };
    attempt.current = run;
    const live = () => attempt.current === run && !run.stopped;
    setError(undefined);
    setPeers({});
    setStatus('joining');
    setMicrophoneOn(true);
    setCameraOn(true);
    (async () => {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: setup.media === 'video',
      });
      run.stream = stream;
      if (!live()) return teardown(run);
      setLocalStream(stream);
      const url = serverUrl();
      const signaling = createSignalingClient({ url, token: session });
      run.signaling = signaling;
      signaling.on('state', ({ to }) => {
        if (live() && to === 'reconnecting') note('Signaling connection lost: reconnecting…');
      });
      const call = createCall({
        url,
        token: session,
        roomId: setup.roomId,
        localStream: stream,
        signaling,
        ...(setup.relay ? { RTCPeerConnection: relayOnlyPeerConnection() } : {}),
      });
      run.call = call;
      wire(call, live);
      await call.join();
      if (!live()) return teardown(run);
      note('You joined');
    })().catch((e: unknown) => {
      if (live()) {
        setError(describeError(e));
        setStatus('ended');
        setLocalStream(undefined);
      }
      teardown(run);
    });
  }, [session, setup.roomId, setup.media, setup.relay, note, wire]);

  const hangUp = useCallback(() => {
    teardown(attempt.current);
    setStatus('ended');
    setPeers({});
    setLocalStream(undefined);
  }, []);

  // leaving the page ends the call
  useEffect(() => () => teardown(attempt.current), []);

  const toggleMicrophone = useCallback(() => {
    const call = attempt.current?.call;
    if (!call) return;
    call.setMicrophoneEnabled(!call.microphoneEnabled);
    setMicrophoneOn(call.microphoneEnabled);
  }, []);
  const toggleCamera = useCallback(() => {
    const call = attempt.current?.call;
    if (!call) return;
    call.setCameraEnabled(!call.cameraEnabled);
    setCameraOn(call.cameraEnabled);
  }, []);

  return {
    status,
    error,
    peers: Object.values(peers),
    localStream,
    microphoneOn,
    cameraOn,
    log,
    join,
    hangUp,
    toggleMicrophone,
    toggleCamera,
    clearError: () => setError(undefined),
  };
}
