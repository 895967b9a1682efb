import type { Address } from '../../protocol/messaging.js';

/** A delivery receipt as nodes hand it to each other (`to` is the sender who gets it). */
export interface Receipt {
  to: Address;
  ids: string[];
  by: Address;
  timestamp: number;
}

interface Kept {
  receipt: Receipt;
  /** When this node heard of it (its age for the window). */
  at: number;
}

/**
 * The recent delivery receipts a node has heard, for senders that come back after missing
 * some: bounded by count, by ids held and by age (the recovery window), oldest dropped
 * first; looked up by the sender's address.
 */
export class KeptReceipts {
  #order: Kept[] = [];
  #head = 0;
  readonly #byAddress = new Map<Address, Kept[]>();
  #ids = 0;

  constructor(
    private readonly limits: { maxReceipts: number; maxIds: number; maxAgeMs: number },
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.#order.length - this.#head;
  }

  get ids(): number {
    return this.#ids;
  }

  add(receipt: Receipt): void {
    if (this.limits.maxReceipts <= 0 || this.limits.maxAgeMs <= 0) return;
    const k: Kept = { receipt, at: this.now() };
    this.#order.push(k);
    const list = this.#byAddress.get(receipt.to);
    if (list) list.push(k);
    else this.#byAddress.set(receipt.to, [k]);
    this.#ids += receipt.ids.length;
    this.#prune();
  }

  /** The kept receipts for `address` stamped at or after `since`, oldest first. */
  since(address: Address, since: number): Receipt[] {
    this.#prune();
    const list = this.#byAddress.get(address);
    if (!list) return [];
    const out: Receipt[] = [];
    for (const k of list) if (k.receipt.timestamp >= since) out.push(k.receipt);
    return out;
  }

  #prune(): void {
    const oldest = this.now() - this.limits.maxAgeMs;
    while (this.size > 0) {
      const k = this.#order[this.#head]!;
      if (this.size <= this.limits.maxReceipts && this.#ids <= this.limits.maxIds && k.at >= oldest) break;
      this.#head++;
      this.#ids -= k.receipt.ids.length;
      // the oldest of all is the oldest of its address too
      const list = this.#byAddress.get(k.receipt.to);
      list?.shift();
      if (list?.length === 0) this.#byAddress.delete(k.receipt.to);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
}
