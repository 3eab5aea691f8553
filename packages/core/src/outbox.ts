import { PublishBackpressureError, UnconfirmedPublishError } from './errors.ts';

/**
 * The publishes a bus has handed to its transport and the broker has not confirmed yet. It bounds them —
 * past `maxPending`, `publish` waits for room (or rejects, per `onFull`) instead of letting a producer
 * that outruns the broker grow without limit — and lets `close({ timeoutMs })` give up on them: each
 * caller then gets an {@link UnconfirmedPublishError}, so no publish is left hanging or silently lost.
 */
export class Outbox {
  readonly #maxPending: number;
  readonly #onFull: 'wait' | 'reject';
  readonly #pending = new Set<(error: Error) => void>();
  readonly #roomWaiters: { resolve(): void; reject(error: Error): void }[] = [];

  constructor(maxPending: number, onFull: 'wait' | 'reject') {
    this.#maxPending = maxPending;
    this.#onFull = onFull;
  }

  /** Publishes handed over and not confirmed yet. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Starts a publish now if fewer than `maxPending` await confirmation, else once one is confirmed (or
   * rejects at once with `onFull: 'reject'`); resolves or rejects as the broker answers, or on {@link abandon}.
   */
  send<T>(start: () => Promise<T>): Promise<T> {
    if (this.#pending.size < this.#maxPending) return this.#track(start());
    if (this.#onFull === 'reject') return Promise.reject(new PublishBackpressureError(this.#maxPending));
    return new Promise<T>((resolve, reject) =>
      this.#roomWaiters.push({ resolve: () => this.#track(start()).then(resolve, reject), reject }),
    );
  }

  #track<T>(sending: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.add(reject);
      sending.then(
        (value) => {
          this.#settled(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.#settled(reject);
          reject(error);
        },
      );
    });
  }

  /** Rejects every publish still waiting for its confirmation, and every one waiting for room. */
  abandon(waitedMs: number): number {
    const count = this.#pending.size;
    const error = new UnconfirmedPublishError(waitedMs);
    for (const reject of this.#pending) reject(error);
    this.#pending.clear();
    for (const waiter of this.#roomWaiters.splice(0)) waiter.reject(error);
    return count;
  }

  #settled(reject: (error: Error) => void): void {
    if (this.#pending.delete(reject)) this.#roomWaiters.shift()?.resolve();
  }
}
