/**
 * The chat's state as a reducer: conversations by address, receipts, presence, typing and
 * the ringing call. The messaging provider feeds it SDK events; components only read it.
 */
export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'read' | 'failed';
export type Presence = 'online' | 'away' | 'busy' | 'offline';

export interface ChatMessage {
  /** The server's id (inbox stream id); undefined until the send is acknowledged. */
  id: string | undefined;
  /** Our own id for a message we sent, so the ack finds it. */
  clientMsgId: string | undefined;
  from: string;
  to: string;
  content: string;
  timestamp: number;
  mine: boolean;
  status: MessageStatus;
  error?: string;
}

export interface Conversation {
  peer: string;
  messages: ChatMessage[];
  unread: number;
}

export interface IncomingCallState {
  from: string;
  roomId: string;
  media: 'audio' | 'video';
}

export interface ChatState {
  me: string;
  conversations: Record<string, Conversation>;
  presence: Record<string, { status: Presence; lastSeen: number | null }>;
  typing: Record<string, boolean>;
  incoming: IncomingCallState | undefined;
  /** The last thing the other side did to a call we placed or took: `{ roomId, what, from }`. */
  callNews:
    | { roomId: string; what: 'accepted' | 'rejected' | 'ended'; from: string; reason?: string }
    | undefined;
}

export type ChatAction =
  | { type: 'open'; peer: string }
  | { type: 'sending'; message: ChatMessage }
  | { type: 'sent'; peer: string; clientMsgId: string; id: string; timestamp: number }
  | { type: 'send-failed'; peer: string; clientMsgId: string; error: string }
  | { type: 'received'; message: ChatMessage }
  | { type: 'receipt'; by: string; ids: string[]; status: 'delivered' | 'read' }
  | { type: 'read-all'; peer: string; ids: string[] }
  | { type: 'presence'; address: string; status: Presence; lastSeen: number | null }
  | { type: 'typing'; from: string; isTyping: boolean }
  | { type: 'incoming'; call: IncomingCallState | undefined }
  | { type: 'call-news'; news: ChatState['callNews'] };

/** Most messages kept per conversation in memory. */
export const MAX_MESSAGES = 500;
const RANK: Record<MessageStatus, number> = { failed: -1, sending: 0, sent: 1, delivered: 2, read: 3 };

export const lower = (a: string) => a.toLowerCase();

export function initialChat(me: string): ChatState {
  return { me, conversations: {}, presence: {}, typing: {}, incoming: undefined, callNews: undefined };
}

function withConversation(state: ChatState, peer: string, f: (c: Conversation) => Conversation): ChatState {
  const key = lower(peer);
  const c = state.conversations[key] ?? { peer, messages: [], unread: 0 };
  return { ...state, conversations: { ...state.conversations, [key]: f(c) } };
}

const append = (list: ChatMessage[], m: ChatMessage) => [...list.slice(-(MAX_MESSAGES - 1)), m];

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'open':
      return withConversation(state, action.peer, (c) => c);
    case 'sending':
      return withConversation(state, action.message.to, (c) => ({
        ...c,
        messages: append(c.messages, action.message),
      }));
    case 'sent':
    case 'send-failed':
      return withConversation(state, action.peer, (c) => ({
        ...c,
        messages: c.messages.map((m) => {
          if (m.clientMsgId !== action.clientMsgId) return m;
          return action.type === 'sent'
            ? {
                ...m,
                id: action.id,
                timestamp: action.timestamp,
                status: RANK[m.status] > 1 ? m.status : 'sent',
              }
            : { ...m, status: 'failed', error: action.error };
        }),
      }));
    case 'received': {
      const m = action.message;
      return withConversation(state, m.from, (c) =>
        // at-least-once delivery: a message seen before is dropped by id
        c.messages.some((x) => x.id === m.id && !x.mine)
          ? c
          : { ...c, messages: append(c.messages, m), unread: c.unread + 1 },
      );
    }
    case 'receipt': {
      const ids = new Set(action.ids);
      return withConversation(state, action.by, (c) => ({
        ...c,
        messages: c.messages.map((m) =>
          m.mine && m.id && ids.has(m.id) && RANK[action.status] > RANK[m.status]
            ? { ...m, status: action.status }
            : m,
        ),
      }));
    }
    case 'read-all': {
      const ids = new Set(action.ids);
      return withConversation(state, action.peer, (c) => ({
        ...c,
        unread: 0,
        messages: c.messages.map((m) => (!m.mine && m.id && ids.has(m.id) ? { ...m, status: 'read' } : m)),
      }));
    }
    case 'presence':
      return {
        ...state,
        presence: {
          ...state.presence,
          [lower(action.address)]: { status: action.status, lastSeen: action.lastSeen },
        },
      };
    case 'typing':
      return { ...state, typing: { ...state.typing, [lower(action.from)]: action.isTyping } };
    case 'incoming':
      return { ...state, incoming: action.call };
    case 'call-news':
      return { ...state, callNews: action.news };
  }
}
