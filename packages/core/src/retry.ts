/** How long to wait before retrying a failed handler. */
export interface BackoffOptions {
  /** Delay before the second attempt, in ms. @default 200 */
  initialDelayMs?: number;
  /** Multiplier applied per further attempt. @default 2 */
  multiplier?: number;
  /** Upper bound for one delay, in ms. @default 30000 */
  maxDelayMs?: number;
  /** Random spread, as a fraction of the delay (0.2 = ±20%), so retries of many events do not align. @default 0.2 */
  jitter?: number;
}

/** Delay before attempt `nextAttempt` (2 = first retry). */
export function backoffDelay(
  nextAttempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { initialDelayMs = 200, multiplier = 2, maxDelayMs = 30_000, jitter = 0.2 } = options;
  const base = Math.min(maxDelayMs, initialDelayMs * multiplier ** Math.max(0, nextAttempt - 2));
  const spread = base * jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(base + spread));
}

/** A sleep that `cancel()` ends early (resolving `false`), so `close()` never waits out a backoff. */
export function cancellableSleep(ms: number): { done: Promise<boolean>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let finish: (completed: boolean) => void = () => {};
  const done = new Promise<boolean>((resolve) => {
    finish = resolve;
    timer = setTimeout(() => resolve(true), ms);
  });
  return {
    done,
    cancel() {
      clearTimeout(timer);
      finish(false);
    },
  };
}

/** True if `promise` settles within `ms` (its outcome is left to the caller); false on time-out. */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), Math.max(0, ms));
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}
