/**
 * At most `max` tasks run at once; the others wait for a turn, first come first served.
 * A finished task hands its turn straight to the next waiting one, so a task started in
 * between cannot jump the queue. The queue is walked by index (it may hold a task per
 * connection, where `shift()` would copy it each time); `waiting` is its length for metrics.
 */
export class Turns {
  #running = 0;
  #queue: (() => void)[] = [];
  #head = 0;

  constructor(readonly max: number) {}

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.max) await new Promise<void>((turn) => this.#queue.push(turn));
    else this.#running++;
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    if (this.#head === this.#queue.length) {
      this.#running--;
      return;
    }
    const next = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as () => void;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    next();
  }
}
