/**
 * Runs tasks with at most `concurrency` in flight while tasks of one key run strictly one after another,
 * in the order they were scheduled. A task can give its slot back while it waits (a retry backoff) and
 * keep its key blocked: only that key waits, every other key keeps flowing.
 */
export class KeyedScheduler {
  readonly #concurrency: number;
  #running = 0;
  readonly #waiters: (() => void)[] = [];
  readonly #tails = new Map<string, Promise<void>>();

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  /** Handlers currently holding a slot. */
  get running(): number {
    return this.#running;
  }

  /** Chains `task` after the previous task of `key` (unkeyed tasks pass `undefined` and never wait). */
  schedule(key: string | undefined, task: (slots: SlotControl) => Promise<void>): Promise<void> {
    const control: SlotControl = { acquire: () => this.#acquire(), release: () => this.#release() };
    if (key === undefined) return task(control);
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const run = previous.then(() => task(control));
    const tail = run.catch(() => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }

  #acquire(): Promise<void> {
    if (this.#running < this.#concurrency) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#running--;
  }
}

/** A task holds a slot between `acquire()` and `release()`, and must release what it acquired. */
export interface SlotControl {
  acquire(): Promise<void>;
  release(): void;
}
