/**
 * Idempotent consumption: a handler runs to completion once per (group, event id). The record is written
 * only after success; while a handler runs, a lease keeps a concurrent duplicate from running too.
 * Implementations must make `claim` atomic across every instance that shares the store.
 */
export interface IdempotencyStore {
  /**
   * Try to take the lease on `key` for `leaseMs`.
   * `claimed`: run the handler. `completed`: it already ran — ack without running.
   * `busy`: another holder's lease is live — try again later.
   */
  claim(key: string, leaseMs: number): Promise<'claimed' | 'completed' | 'busy'>;
  /** Record success; duplicates are recognised for `ttlMs`. */
  complete(key: string, ttlMs: number): Promise<void>;
  /** Drop the lease after a failure so the next attempt (here or elsewhere) can claim it. */
  release(key: string): Promise<void>;
  /** Let go of connections, for stores that hold them. */
  close?(): Promise<void>;
}

export interface IdempotencyOptions {
  /** `'memory'` (this process only) or a shared store such as the Redis adapter's. */
  store: 'memory' | IdempotencyStore;
  /** How long a running handler holds the lease, in ms. Keep it above the slowest handler. @default 60000 */
  leaseMs?: number;
  /** How long a completed id is remembered, in ms. @default 86400000 (24 h) */
  ttlMs?: number;
}

/** Process-local store: right for tests and single-instance services. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries = new Map<string, { state: 'running' | 'done'; expiresAt: number }>();
  #sweepAt = 0;

  async claim(key: string, leaseMs: number): Promise<'claimed' | 'completed' | 'busy'> {
    const now = Date.now();
    this.#sweep(now);
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt > now) return entry.state === 'done' ? 'completed' : 'busy';
    this.#entries.set(key, { state: 'running', expiresAt: now + leaseMs });
    return 'claimed';
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    this.#entries.set(key, { state: 'done', expiresAt: Date.now() + ttlMs });
  }

  async release(key: string): Promise<void> {
    if (this.#entries.get(key)?.state === 'running') this.#entries.delete(key);
  }

  /** Drop expired entries at most once a second so the map does not grow without bound. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + 1000;
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
  }
}
