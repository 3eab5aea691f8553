/**
 * Gathers the requests of one kind on one queue made in the same turn of the event loop (and while a
 * request is on its way) into batch requests of up to 10 — DeleteMessageBatch for acks,
 * ChangeMessageVisibilityBatch for keep-alives and hand-backs. Each caller's promise settles with its own
 * entry's outcome.
 */
export class Batcher<T> {
  readonly #flush: (items: T[]) => Promise<(Error | undefined)[]>;
  #pending: { item: T; resolve: () => void; reject: (error: Error) => void }[] = [];
  #scheduled = false;

  /** `flush` sends up to 10 items and returns one outcome per item (`undefined` = done). */
  constructor(flush: (items: T[]) => Promise<(Error | undefined)[]>) {
    this.#flush = flush;
  }

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#pending.length >= 10) this.#drain();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#drain();
        });
      }
    });
  }

  #drain(): void {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, 10);
      this.#flush(batch.map((p) => p.item)).then(
        (outcomes) =>
          batch.forEach((p, i) => {
            const outcome = outcomes[i];
            if (outcome) p.reject(outcome);
            else p.resolve();
          }),
        (error: Error) => {
          for (const p of batch) p.reject(error);
        },
      );
    }
  }
}
