import { randomBytes } from 'node:crypto';
import {
  type Bus,
  type Capabilities,
  createAdmin,
  createBus,
  createTransport,
  defineEvent,
  type IdempotencyStore,
  type Logger,
} from '@omnibus/core';
import { type ChildHandle, type ChildMode, forkChild } from './child-process.ts';
import { TappedTransport } from './tap.ts';

/** The event every case publishes. `seq` orders events; `key` repeats the ordering key for checks. */
export const testEventSchema = {
  type: 'record',
  name: 'ConformanceEvent',
  namespace: 'omnibus.conformance',
  fields: [
    { name: 'seq', type: 'long' },
    { name: 'key', type: 'string' },
    { name: 'payload', type: 'string' },
  ],
} as const;

export function testContract(topic: string) {
  return defineEvent({ type: 'omnibus.conformance.event', version: 1, topic, avro: testEventSchema });
}
export type TestContract = ReturnType<typeof testContract>;

/** A capability a case needs: a flag, or `deliveryLeaseMs` (declared at all). `maxMessageBytes` always is. */
export type CapabilityFlag = Exclude<keyof Capabilities, 'maxMessageBytes'>;

/** How the suite runs against one broker (the CLI's flags). */
export interface SuiteOptions {
  /**
   * Shell command that restarts the broker under test and returns once it serves again (or, for an
   * in-process broker, a function doing so); enables `broker-restart`.
   */
  restartCommand?: string | (() => Promise<void>);
  /** The broker lives in this process (memory://): crash cases abandon a subscription instead of killing a child. @default adapter === 'memory' */
  inProcess?: boolean;
  /** URL of a shared idempotency store (e.g. `redis://…`) for the idempotency cases. @default a store the suite holds, shared with its child processes over IPC */
  idempotencyStore?: string;
  /** A wait fails once what it awaits has not changed for this long, in ms. @default 30000 */
  stallMs?: number;
  /** Receives the buses' and drivers' logs (the CLI's `--log-level`). @default none */
  logger?: Logger;
}

export interface ConformanceCase {
  name: string;
  /** The capabilities the case exercises: missing ones make it a reported skip. */
  requires: CapabilityFlag[];
  /** Suite options the case needs (e.g. `restartCommand`): missing ones make it a reported skip. */
  needs?: (keyof SuiteOptions)[];
  timeoutMs: number;
  run(context: CaseContext): Promise<void>;
}

/** Thrown (or used by `check`) when a case's promise is broken. The message says what was seen. */
export class ConformanceFailure extends Error {}

export function check(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new ConformanceFailure(message());
}

export interface WaitOptions {
  /** Give up after this long. @default 60000 */
  timeoutMs?: number;
  /** Give up when what is awaited has not changed (the `waiting()` text) for this long. @default the suite's `stallMs` */
  stallMs?: number;
}

export class CaseContext {
  readonly url: string;
  readonly caseName: string;
  readonly capabilities: Capabilities;
  readonly options: SuiteOptions & { inProcess: boolean };
  /** Errors buses reported in the background; they fail the case unless it calls {@link allowErrors}. */
  readonly errors: { bus: string; error: Error }[] = [];
  /** Facts the report shows next to the result (duplicates seen under faults, timings). */
  readonly notes: string[] = [];
  /** What the case waits for right now; a case time-out reports it. */
  waitingFor: string | undefined;
  #errorsAllowed = false;
  readonly #buses: Bus[] = [];
  readonly #taps = new Map<Bus, TappedTransport>();
  readonly #cleanups: (() => unknown)[] = [];
  /** topic → groups provisioned by this case's buses (subscribe provisions too). */
  readonly #provisioned = new Map<string, Set<string>>();

  constructor(
    url: string,
    caseName: string,
    capabilities: Capabilities,
    options: SuiteOptions & { inProcess: boolean },
  ) {
    this.url = url;
    this.caseName = caseName;
    this.capabilities = capabilities;
    this.options = options;
  }

  /** A fresh topic name, unique per run: `conf-<case>-<label>-<random>`. */
  topic(label = 'main'): string {
    return `conf-${this.caseName}-${label}-${randomBytes(4).toString('hex')}`;
  }

  /** Opens a bus on the broker under test; closed after the case, and what it provisioned deleted. */
  async bus(label = `bus${this.#buses.length + 1}`): Promise<Bus> {
    const logger = this.options.logger;
    const tapped = new TappedTransport(
      await createTransport(this.url, logger ? { logger } : {}),
      this.#provisioned,
      this.options.inProcess,
    );
    const bus = await createBus({
      transport: tapped,
      onError: (error) => {
        this.errors.push({ bus: label, error });
        logger?.warn({ err: error, bus: label }, error.message);
      },
      ...(logger && { logger }),
    });
    this.#buses.push(bus);
    this.#taps.set(bus, tapped);
    return bus;
  }

  /** `factor` × the suite's stall limit, for waits that are slow by nature (redelivery after a crash). */
  stall(factor: number): number {
    return factor * (this.options.stallMs ?? 30_000);
  }

  /** This case injects faults: errors buses report in the background are expected, not failures. */
  allowErrors(): void {
    this.#errorsAllowed = true;
  }

  /**
   * The background errors that fail the case, described; undefined when there are none. In a case that
   * injects faults they are expected: then they become a note instead.
   */
  unexpectedErrors(): string | undefined {
    if (this.errors.length === 0) return undefined;
    const first = this.errors[0]!;
    const text = `${this.errors.length} background error(s) reported by the buses (first, from ${first.bus}: ${first.error.message})`;
    if (!this.#errorsAllowed) return text;
    this.notes.push(text);
    return undefined;
  }

  /** In-process crash: drops `bus`'s consumers without settling anything; it is never closed. */
  async crash(bus: Bus): Promise<void> {
    this.#buses.splice(this.#buses.indexOf(bus), 1);
    await this.#taps.get(bus)!.crash();
  }

  /** A subscriber in a child process, killed (SIGKILL) at the latest when the case ends. */
  child(mode: ChildMode): ChildHandle {
    const child = forkChild(this.url, mode);
    this.onCleanup(() => child.kill());
    return child;
  }

  /** The idempotency store the options name, if any (closed after the case). */
  async sharedStore(): Promise<IdempotencyStore | undefined> {
    const url = this.options.idempotencyStore;
    if (!url) return undefined;
    const { createIdempotencyStore } = await import('@omnibus/core');
    const store = await createIdempotencyStore(url);
    this.onCleanup(() => store.close?.());
    return store;
  }

  onCleanup(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  /**
   * Polls until `done()` holds. Fails with `waiting()`'s account of what is missing when the time is up,
   * or sooner when that account has not changed for `stallMs` (nothing moves: no point waiting longer).
   */
  async waitFor(
    done: () => boolean,
    waiting: () => string,
    options: WaitOptions | number = {},
  ): Promise<void> {
    const { timeoutMs = 60_000, stallMs = this.options.stallMs ?? 30_000 } =
      typeof options === 'number' ? { timeoutMs: options } : options;
    const started = Date.now();
    let last = waiting();
    let lastChange = started;
    try {
      while (!done()) {
        const now = Date.now();
        const state = waiting();
        this.waitingFor = state;
        if (state !== last) {
          last = state;
          lastChange = now;
        }
        if (now - started > timeoutMs)
          throw new ConformanceFailure(`timed out after ${timeoutMs} ms: ${state}`);
        if (now - lastChange > stallMs)
          throw new ConformanceFailure(`no progress for ${Math.round(stallMs / 1000)} s: ${state}`);
        await sleep(25);
      }
    } finally {
      this.waitingFor = undefined;
    }
  }

  async dispose(): Promise<void> {
    for (const fn of this.#cleanups.splice(0)) await settleWithin(Promise.resolve().then(fn), 10_000);
    await Promise.all(this.#buses.splice(0).map((bus) => settleWithin(bus.close(), 15_000)));
    await settleWithin(this.#deleteProvisioned(), 30_000);
  }

  /** Leaves the broker as the case found it: a long-lived broker must not fill up with test topics. */
  async #deleteProvisioned(): Promise<void> {
    if (this.#provisioned.size === 0) return;
    const admin = await createAdmin(this.url).catch(() => undefined);
    if (!admin) return;
    try {
      for (const [topic, groups] of this.#provisioned) await admin.deleteTopic(topic, [...groups]);
    } finally {
      this.#provisioned.clear();
      await admin.close();
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

/**
 * Published ids vs ids whose handler completed. `missing()` is what at-least-once forbids; it reads as
 * "42 of 1000 ids never completed: first 5: …". Completions are counted, so duplicates show too.
 */
export class Ledger {
  readonly published = new Set<string>();
  readonly completed = new Map<string, number>();

  complete(id: string): void {
    this.completed.set(id, (this.completed.get(id) ?? 0) + 1);
  }
  missing(): string[] {
    return [...this.published].filter((id) => !this.completed.has(id));
  }
  done(): boolean {
    return this.published.size > 0 && this.missing().length === 0;
  }
  /** Ids completed more than once. */
  duplicates(): string[] {
    return [...this.completed].filter(([, count]) => count > 1).map(([id]) => id);
  }
  describe(): string {
    const missing = this.missing();
    return `${missing.length} of ${this.published.size} ids never completed: first 5: ${missing.slice(0, 5).join(', ')}`;
  }
}

/**
 * Publishes `count` events (seq `firstSeq` onwards) spread over `keys` keys (`k<seq mod keys>`); each key's
 * events are published in order, keys side by side.
 */
export async function publishKeyed(
  bus: Bus,
  contract: TestContract,
  count: number,
  keys: number,
  ledger?: Ledger,
  payload = 'x',
  firstSeq = 0,
): Promise<{ key: string; seq: number; id: string }[]> {
  const byKey = new Map<string, number[]>();
  for (let seq = firstSeq; seq < firstSeq + count; seq++) {
    const key = `k${seq % keys}`;
    byKey.set(key, [...(byKey.get(key) ?? []), seq]);
  }
  const sent: { key: string; seq: number; id: string }[] = [];
  await Promise.all(
    [...byKey].map(async ([key, seqs]) => {
      for (const seq of seqs) {
        const { id } = await bus.publish(contract, { seq, key, payload }, { key });
        ledger?.published.add(id);
        sent.push({ key, seq, id });
      }
    }),
  );
  return sent;
}
