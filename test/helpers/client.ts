import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import type { EventSourceConstructor, WebSocketConstructor } from '../../src/client/platform.js';

/** The Node implementations the SDK gets injected in tests (browsers have them as globals). */
export const platform = {
  WebSocket: WebSocket as unknown as WebSocketConstructor,
  EventSource: EventSource as unknown as EventSourceConstructor,
};

/**
 * A WebSocket stand-in driven by the test: `open()`, `receive()`, `serverClose()`; every
 * instance is recorded in `FakeWebSocket.instances` so a test can reach the latest one.
 */
export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  static reset() {
    FakeWebSocket.instances = [];
  }
  static get last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1);
    if (!ws) throw new Error('no FakeWebSocket was created');
    return ws;
  }

  readyState = 0;
  sent: string[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  send(data: string) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string) {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(data: unknown) {
    this.onmessage?.({ data: typeof data === 'string' ? data : JSON.stringify(data) });
  }

  serverClose(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  /** Frames sent, parsed. */
  get frames(): any[] {
    return this.sent.map((s) => JSON.parse(s));
  }
}

export const FakeWebSocketCtor = FakeWebSocket as unknown as WebSocketConstructor;

/**
 * The `ws` WebSocket, recording every instance, so a test can cut a client's connection
 * from the client side (`terminate()`: an abnormal close, as when a network drops).
 */
export function recordingWebSocket(): { WebSocket: WebSocketConstructor; sockets: WebSocket[] } {
  const sockets: WebSocket[] = [];
  class Recording extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  return { WebSocket: Recording as unknown as WebSocketConstructor, sockets };
}

/**
 * An RTCPeerConnection stand-in with the real signaling-state machine (stable,
 * have-local-offer, have-remote-offer, implicit rollback, InvalidStateError on a wrong
 * answer) and negotiationneeded, for negotiation tests in Node. ICE "connects" once a
 * description pair is complete, unless `iceBlocked` is set.
 */
export class FakePeerConnection {
  static instances: FakePeerConnection[] = [];
  static iceBlocked = false;
  signalingState = 'stable';
  iceConnectionState = 'new';
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp?: string } | null = null;
  tracks: unknown[] = [];
  candidates: unknown[] = [];
  restarts = 0;
  closed = false;
  offersMade = 0;
  onnegotiationneeded: ((e: unknown) => void) | null = null;
  onicecandidate: ((e: { candidate: { toJSON(): unknown } | null }) => void) | null = null;
  oniceconnectionstatechange: ((e: unknown) => void) | null = null;
  ontrack: ((e: unknown) => void) | null = null;
  #needed = false;
  #id = FakePeerConnection.instances.length;

  constructor(readonly config: unknown = {}) {
    FakePeerConnection.instances.push(this);
  }

  addTrack(track: unknown) {
    this.tracks.push(track);
    // between a remote offer and our answer, a track rides on an offered transceiver: the
    // answer carries it, nothing is left to negotiate (as in browsers)
    if (this.signalingState !== 'have-remote-offer') this.#negotiationNeeded();
  }

  /** Receive-only transceivers asked for (kind and direction). */
  transceivers: { kind: string; direction: string | undefined }[] = [];

  addTransceiver(kind: string, init?: { direction?: string }) {
    this.transceivers.push({ kind, direction: init?.direction });
    this.#negotiationNeeded();
  }

  getTransceivers() {
    return [];
  }

  getSenders() {
    return [];
  }

  async getStats() {
    return new Map();
  }

  restartIce() {
    this.restarts++;
    this.#negotiationNeeded();
  }

  async setLocalDescription(d?: { type: string; sdp: string }) {
    await Promise.resolve();
    if (this.closed) throw new Error('closed');
    if (d) throw new Error('the fake only supports the implicit form');
    if (this.signalingState === 'have-remote-offer') {
      this.localDescription = { type: 'answer', sdp: `answer-${this.#id}` };
      this.#setSignaling('stable');
      this.#connectIce();
    } else {
      this.offersMade++;
      this.localDescription = { type: 'offer', sdp: `offer-${this.#id}-${this.offersMade}` };
      this.#needed = false;
      this.#setSignaling('have-local-offer');
    }
  }

  async setRemoteDescription(d: { type: string; sdp?: string }) {
    await Promise.resolve();
    if (d.type === 'offer') {
      if (this.signalingState === 'have-local-offer') {
        // implicit rollback: what our discarded offer carried still needs negotiating
        this.#needed = true;
        this.signalingState = 'stable';
      }
      if (this.signalingState !== 'stable')
        throw new Error(`InvalidStateError: offer in ${this.signalingState}`);
      this.remoteDescription = d;
      this.#setSignaling('have-remote-offer');
    } else {
      if (this.signalingState !== 'have-local-offer') {
        throw new Error(`InvalidStateError: answer in ${this.signalingState}`);
      }
      this.remoteDescription = d;
      this.#setSignaling('stable');
      this.#connectIce();
    }
  }

  async addIceCandidate(c: unknown) {
    if (!this.remoteDescription) throw new Error('InvalidStateError: no remote description');
    this.candidates.push(c);
  }

  close() {
    this.closed = true;
    this.signalingState = 'closed';
  }

  setIce(state: string) {
    this.iceConnectionState = state;
    this.oniceconnectionstatechange?.({});
  }

  #negotiationNeeded() {
    this.#needed = true;
    if (this.signalingState === 'stable') queueMicrotask(() => this.#fireNeeded());
  }

  #fireNeeded() {
    if (this.#needed && this.signalingState === 'stable' && !this.closed) {
      this.#needed = false;
      this.onnegotiationneeded?.({});
    }
  }

  #setSignaling(s: string) {
    this.signalingState = s;
    if (s === 'stable' && this.#needed) queueMicrotask(() => this.#fireNeeded());
  }

  #connectIce() {
    // candidates are gathered after setLocalDescription resolves (a task later, as in browsers)
    setTimeout(() => {
      if (this.closed) return;
      this.onicecandidate?.({
        candidate: { toJSON: () => ({ candidate: `cand-${this.#id}`, sdpMid: '0' }) },
      });
      if (!FakePeerConnection.iceBlocked && this.iceConnectionState !== 'connected') this.setIce('connected');
    }, 0);
  }
}
