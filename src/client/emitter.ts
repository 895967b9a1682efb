/**
 * A typed event emitter small enough for the browser bundle. Listeners that throw are
 * isolated: one bad listener must not stop the others or break the client's own state
 * machine, so the error is re-thrown asynchronously (it still reaches `onerror` /
 * `uncaughtException` and is not silently lost).
 */
export type EventMap = Record<string, unknown>;

export interface Events<E extends EventMap> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(type: K, listener: (payload: E[K]) => void): () => void;
  /** Adds a listener that runs once. */
  once<K extends keyof E>(type: K, listener: (payload: E[K]) => void): () => void;
  off<K extends keyof E>(type: K, listener: (payload: E[K]) => void): void;
}

export interface Emitter<E extends EventMap> extends Events<E> {
  emit<K extends keyof E>(type: K, payload: E[K]): void;
  /** Number of listeners of one type (the socket uses it to decide whether errors are heard). */
  listenerCount(type: keyof E): number;
  removeAll(): void;
}

export function createEmitter<E extends EventMap>(): Emitter<E> {
  const listeners = new Map<keyof E, Set<(payload: never) => void>>();
  const emitter: Emitter<E> = {
    on(type, listener) {
      let set = listeners.get(type);
      if (!set) {
        set = new Set();
        listeners.set(type, set);
      }
      set.add(listener as (payload: never) => void);
      return () => emitter.off(type, listener);
    },
    once(type, listener) {
      const off = emitter.on(type, (payload) => {
        off();
        listener(payload);
      });
      return off;
    },
    off(type, listener) {
      listeners.get(type)?.delete(listener as (payload: never) => void);
    },
    emit(type, payload) {
      const set = listeners.get(type);
      if (!set) return;
      for (const listener of [...set]) {
        try {
          (listener as (payload: E[typeof type]) => void)(payload);
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    },
    listenerCount(type) {
      return listeners.get(type)?.size ?? 0;
    },
    removeAll() {
      listeners.clear();
    },
  };
  return emitter;
}
