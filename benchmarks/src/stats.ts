/** Small numeric helpers shared by the benchmarks. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Events per second for `count` events over `ms` milliseconds. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.POSITIVE_INFINITY;
}

export const now = (): number => performance.now();

/** `12 345` style thousands, no decimals (ops/s and msg/s are never meaningful below 1). */
export function formatRate(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  if (!Number.isFinite(value)) return '∞';
  return Math.round(value)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

export function formatRatio(sdk: number | undefined, raw: number | undefined): string {
  if (sdk === undefined || raw === undefined || !(raw > 0) || Number.isNaN(sdk)) return '—';
  return `${(sdk / raw).toFixed(2)}×`;
}

/**
 * Runs `operation(i)` for i in [0, total) with at most `window` started and not yet settled; resolves when
 * all have settled, rejects with the first failure. The shape of "keep N publishes in flight".
 */
export function runWindowed(
  total: number,
  window: number,
  operation: (index: number) => Promise<unknown>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (total === 0) {
      resolve();
      return;
    }
    let started = 0;
    let settled = 0;
    let failed = false;
    const launch = (): void => {
      while (!failed && started < total && started - settled < window) {
        const index = started++;
        operation(index).then(
          () => {
            settled++;
            if (settled === total) resolve();
            else launch();
          },
          (error: unknown) => {
            failed = true;
            reject(error);
          },
        );
      }
    };
    launch();
  });
}

/** Resolves with `value`, or rejects with `message` after `ms` (the timer never keeps the process alive). */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Counts deliveries and times the span from the first to the last of `expected`. */
export class ArrivalClock {
  readonly expected: number;
  count = 0;
  #started = false;
  #first = 0;
  #last = 0;
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor(expected: number) {
    this.expected = expected;
    this.done = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
    if (expected === 0) this.#resolve();
  }

  /** The consumer is ready (joined, consuming): the clock starts now unless a delivery already started it. */
  start(): void {
    if (!this.#started) {
      this.#started = true;
      this.#first = now();
    }
  }

  /** Records `n` arrivals (a batch counts its size at once). */
  tick(n = 1): void {
    const t = now();
    if (!this.#started) {
      this.#started = true;
      this.#first = t;
    }
    this.count += n;
    if (this.count >= this.expected && this.#last === 0) {
      this.#last = t;
      this.#resolve();
    }
  }

  /**
   * Arrivals per second from the consumer being ready (or the first arrival, if earlier) to the last
   * expected arrival: excludes connecting and group-join time, which differ between clients and are
   * not throughput, but counts the first fetch.
   */
  rate(): number {
    return perSecond(this.expected, Math.max(this.#last - this.#first, 0.001));
  }
}

/** A measured window: wall time and process CPU (user + system) from construction to `stop`. */
export class CpuWindow {
  readonly #start = now();
  readonly #cpu = process.cpuUsage();

  /** Events per second and CPU µs per event over the window so far. */
  stop(events: number, end = now()): { rate: number; cpuUs: number } {
    const cpu = process.cpuUsage(this.#cpu);
    return { rate: perSecond(events, end - this.#start), cpuUs: (cpu.user + cpu.system) / events };
  }
}

/** The `q`-quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A short id that makes a run's topic and group names its own. */
export function runId(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}
