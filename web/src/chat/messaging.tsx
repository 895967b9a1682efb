import {
  createContext,
  type ReactNode,
  useContext,
  useEffect,
  useMemo,
  useReducer,
  useRef,
  useState,
} from 'react';
import { type Connection, toConnection } from '../app/connection.js';
import { describeError } from '../app/errors.js';
import { serverUrl, useUser } from '../identity/identity.js';
import { createMessagingClient, type MessagingClient } from '../sdk.js';
import { type ChatState, chatReducer, type IncomingCallState, initialChat, lower } from './store.js';

export type { Connection };

export interface MessagingView {
  state: ChatState;
  connection: Connection;
  error: string | undefined;
  clearError(): void;
  send(to: string, content: string): void;
  /** `true` on every keystroke (the SDK throttles), `false` when the user stops. */
  setTyping(to: string, isTyping: boolean): void;
  /** Marks what `peer` sent as read (and tells them). */
  markRead(peer: string): void;
  /** Follows the presence of an address. */
  watch(address: string): void;
  /** Rings `to`; resolves with the room to join. */
  invite(to: string, media: 'audio' | 'video'): Promise<string>;
  accept(call: IncomingCallState): void;
  reject(call: IncomingCallState): void;
  /** Tells the other party of a call placed or taken through chat that it ended. */
  endCall(roomId: string): void;
}

const MessagingContext = createContext<MessagingView | undefined>(undefined);

const newId = (): string =>
  globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

/**
 * One messaging connection for the signed-in user, shared by every page: the chat reads
 * it, and the incoming-call prompt shows on whichever page is open.
 */
export function MessagingProvider({ children }: { children: ReactNode }) {
  const { address, session } = useUser();
  const [state, dispatch] = useReducer(chatReducer, address, initialChat);
  const [connection, setConnection] = useState<Connection>('connecting');
  const [error, setError] = useState<string>();
  const clientRef = useRef<MessagingClient | undefined>(undefined);
  const watched = useRef(new Set<string>());
  const stateRef = useRef(state);
  stateRef.current = state;

  useEffect(() => {
    const client = createMessagingClient({ url: serverUrl(), token: session });
    clientRef.current = client;
    watched.current = new Set();
    client.on('state', ({ to }) => {
      setConnection(toConnection(to));
      if (to === 'open') setError(undefined);
    });
    client.on('error', (e) => {
      if (e.code !== 'network') setError(describeError(e));
    });
    client.on('message', (m) => {
      dispatch({ type: 'typing', from: m.from, isTyping: false });
      dispatch({
        type: 'received',
        message: { ...m, clientMsgId: undefined, mine: false, status: 'delivered' },
      });
    });
    client.on('delivered', (r) => dispatch({ type: 'receipt', by: r.by, ids: r.ids, status: 'delivered' }));
    client.on('read', (r) => dispatch({ type: 'receipt', by: r.by, ids: r.ids, status: 'read' }));
    client.on('presence', (p) =>
      dispatch({ type: 'presence', address: p.address, status: p.status, lastSeen: p.lastSeen }),
    );
    client.on('typing', (t) => dispatch({ type: 'typing', from: t.from, isTyping: t.isTyping }));
    client.on('call:incoming', (c) => dispatch({ type: 'incoming', call: c }));
    const news =
      (what: 'accepted' | 'rejected' | 'ended') => (c: { roomId: string; from: string; reason?: string }) => {
        if (what !== 'accepted' && stateRef.current.incoming?.roomId === c.roomId) {
          dispatch({ type: 'incoming', call: undefined });
        }
        dispatch({
          type: 'call-news',
          news: { roomId: c.roomId, what, from: c.from, ...(c.reason ? { reason: c.reason } : {}) },
        });
      };
    client.on('call:accepted', news('accepted'));
    client.on('call:rejected', news('rejected'));
    client.on('call:ended', news('ended'));
    // a hidden tab shows as away
    const onVisibility = () => client.setPresence(document.visibilityState === 'hidden' ? 'away' : 'online');
    onVisibility();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      document.removeEventListener('visibilitychange', onVisibility);
      client.close();
      clientRef.current = undefined;
    };
  }, [session]);

  // stable actions (they read the client and state through refs): effects may depend on them
  const actions = useMemo(() => {
    const client = () => clientRef.current;
    return {
      clearError: () => setError(undefined),
      send(to: string, content: string) {
        const clientMsgId = newId();
        dispatch({
          type: 'sending',
          message: {
            id: undefined,
            clientMsgId,
            from: stateRef.current.me,
            to,
            content,
            timestamp: Date.now(),
            mine: true,
            status: 'sending',
          },
        });
        client()
          ?.send(to, content, { clientMsgId })
          .then(
            (ack) => dispatch({ type: 'sent', peer: to, clientMsgId, id: ack.id, timestamp: ack.timestamp }),
            (e: unknown) => dispatch({ type: 'send-failed', peer: to, clientMsgId, error: describeError(e) }),
          );
      },
      setTyping(to: string, isTyping: boolean) {
        if (isTyping) client()?.typing(to);
        else client()?.stopTyping(to);
      },
      markRead(peer: string) {
        const conversation = stateRef.current.conversations[lower(peer)];
        if (!conversation) return;
        const ids = conversation.messages.flatMap((m) =>
          !m.mine && m.status !== 'read' && m.id ? [m.id] : [],
        );
        if (conversation.unread > 0 || ids.length > 0) dispatch({ type: 'read-all', peer, ids });
        if (ids.length > 0) client()?.markRead(conversation.peer, ids);
      },
      watch(a: string) {
        const key = lower(a);
        if (watched.current.has(key)) return;
        watched.current.add(key);
        dispatch({ type: 'open', peer: a });
        client()
          ?.subscribePresence([a])
          .then((list) => {
            for (const p of list) {
              dispatch({ type: 'presence', address: p.address, status: p.status, lastSeen: p.lastSeen });
            }
          })
          .catch((e: unknown) => {
            watched.current.delete(key);
            setError(describeError(e));
          });
      },
      async invite(to: string, media: 'audio' | 'video') {
        const c = client();
        if (!c) throw new Error('Not connected to the messaging server.');
        const roomId = `call-${newId()
          .replace(/[^A-Za-z0-9]/g, '')
          .slice(0, 20)}`;
        const ack = await c.invite(to, roomId, media);
        return ack.roomId;
      },
      accept(call: IncomingCallState) {
        dispatch({ type: 'incoming', call: undefined });
        client()
          ?.accept(call.roomId)
          .catch((e: unknown) => setError(describeError(e)));
      },
      reject(call: IncomingCallState) {
        dispatch({ type: 'incoming', call: undefined });
        client()
          ?.reject(call.roomId, 'declined')
          .catch((e: unknown) => setError(describeError(e)));
      },
      endCall(roomId: string) {
        client()
          ?.endCall(roomId, 'hangup')
          .catch(() => {
            // a call the server no longer knows (the other side ended it first) needs no notice
          });
      },
    };
  }, []);
  // everyone we have a conversation with (including people who wrote first) shows presence
  const peers = Object.values(state.conversations)
    .map((c) => c.peer)
    .join(',');
  useEffect(() => {
    for (const peer of peers.split(',')) if (peer) actions.watch(peer);
  }, [peers, actions]);

  const view = useMemo<MessagingView>(
    () => ({ ...actions, state, connection, error }),
    [actions, state, connection, error],
  );

  return <MessagingContext.Provider value={view}>{children}</MessagingContext.Provider>;
}

export function useMessaging(): MessagingView {
  const ctx = useContext(MessagingContext);
  if (!ctx) throw new Error('useMessaging outside MessagingProvider');
  return ctx;
}
