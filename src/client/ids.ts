/** A random id for clientMsgId and receipt ids: crypto.randomUUID where available (browsers, Node 20). */
export function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  // insecure contexts (plain http pages) have no randomUUID; uniqueness is all we need here
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

/** A set that forgets its oldest entries beyond `max`: dedupe without unbounded memory. */
export class BoundedSet<T> {
  readonly #items = new Set<T>();
  constructor(readonly max: number) {}
  has(item: T): boolean {
    return this.#items.has(item);
  }
  add(item: T): void {
    this.#items.delete(item);
    this.#items.add(item);
    if (this.#items.size > this.max) {
      const oldest = this.#items.values().next();
      if (!oldest.done) this.#items.delete(oldest.value);
    }
  }
  get size(): number {
    return this.#items.size;
  }
}

/** Resolves after `ms` (for retry pauses). */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
