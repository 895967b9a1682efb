import { randomBytes } from 'node:crypto';
import type { Engine } from '../engine/types.js';

/** A lane session: who owns it and until when it lives. */
export interface LaneSession {
  sid: string;
  /** EIP-55 address of the owner: the only reader of its lanes and sender of its receipts. */
  owner: string;
  /** ms since the epoch */
  expiresAt: number;
}

/**
 * 144 random bits, base64url: unguessable, so a sid in a log or a Referer does not let
 * anyone else in (the owner check does not depend on it, but defence in depth).
 */
const newSid = () => randomBytes(18).toString('base64url');
const SID_SHAPE = /^[A-Za-z0-9_-]{16,64}$/;

/** Sessions live in the engine (a key with expiry), so every node serves every session. */
export interface SessionStore {
  create(owner: string): Promise<LaneSession>;
  /** The session, or null when unknown, expired or malformed. */
  get(sid: string): Promise<LaneSession | null>;
  /** Slides the session's expiry forward (a stream opened on it). */
  touch(session: LaneSession): Promise<LaneSession>;
}

export const sessionKey = (sid: string) => `lanes:session:${sid}`;

export function createSessionStore(options: {
  engine: Engine;
  ttlMs: number;
  now: () => number;
}): SessionStore {
  const { engine, ttlMs, now } = options;
  const write = async (s: LaneSession) => {
    await engine.set(sessionKey(s.sid), JSON.stringify({ owner: s.owner, expiresAt: s.expiresAt }), ttlMs);
    return s;
  };
  return {
    async create(owner) {
      return write({ sid: newSid(), owner, expiresAt: now() + ttlMs });
    },
    async get(sid) {
      if (!SID_SHAPE.test(sid)) return null;
      const raw = await engine.get(sessionKey(sid));
      if (raw === null) return null;
      const v = JSON.parse(raw) as { owner: string; expiresAt: number };
      return { sid, owner: v.owner, expiresAt: v.expiresAt };
    },
    async touch(s) {
      // writes at most once a minute per session: reconnect storms do not each cost a write
      if (s.expiresAt - now() > ttlMs - 60_000) return s;
      return write({ ...s, expiresAt: now() + ttlMs });
    },
  };
}
