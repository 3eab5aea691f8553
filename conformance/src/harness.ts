import { randomBytes } from 'node:crypto';
import {
  type Bus,
  type Capabilities,
  createBus,
  createTransport,
  defineEvent,
  type Transport,
} from '@omnibus/core';

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

/** A capability flag a case needs; `maxMessageBytes` is always present. */
export type CapabilityFlag = Exclude<keyof Capabilities, 'maxMessageBytes'>;

export interface ConformanceCase {
  name: string;
  /** The capabilities the case exercises: missing ones make it a reported skip. */
  requires: CapabilityFlag[];
  timeoutMs: number;
  run(context: CaseContext): Promise<void>;
}

/** Thrown (or used by `check`) when a case's promise is broken. The message says what was seen. */
export class ConformanceFailure extends Error {}

export function check(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new ConformanceFailure(message());
}

export class CaseContext {
  readonly url: string;
  readonly caseName: string;
  readonly capabilities: Capabilities;
  readonly #buses: Bus[] = [];
  readonly #cleanups: (() => unknown)[] = [];

  constructor(url: string, caseName: string, capabilities: Capabilities) {
    this.url = url;
    this.caseName = caseName;
    this.capabilities = capabilities;
  }

  /** A fresh topic name, unique per run: `conf-<case>-<label>-<random>`. */
  topic(label = 'main'): string {
    return `conf-${this.caseName}-${label}-${randomBytes(4).toString('hex')}`;
  }

  /** Opens a bus on the broker under test; closed after the case, and what it provisioned deleted. */
  async bus(): Promise<Bus> {
    const transport = recordProvisions(await createTransport(this.url), this.#provisioned);
    const bus = await createBus({ transport, onError: (error) => this.errors.push(error) });
    this.#buses.push(bus);
    return bus;
  }

  /** topic → groups provisioned by this case's buses (subscribe provisions too). */
  readonly #provisioned = new Map<string, Set<string>>();

  /** Errors buses reported in the background (connection losses, failed acks). */
  readonly errors: Error[] = [];

  /** Drops `bus`'s connections without settling anything, as a killed process would; it is not closed later. */
  async crash(bus: Bus): Promise<void> {
    this.#buses.splice(this.#buses.indexOf(bus), 1);
    const transport = bus.transport;
    await (transport.simulateCrash ? transport.simulateCrash() : transport.close());
  }

  onCleanup(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  /** Polls until `done()` holds, else fails with `waiting()`'s account of what is missing. */
  async waitFor(done: () => boolean, waiting: () => string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline)
        throw new ConformanceFailure(`timed out after ${timeoutMs} ms: ${waiting()}`);
      await sleep(25);
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
    const transport = await createTransport(this.url);
    if (!transport.deleteTopic) return;
    await transport.connect();
    try {
      for (const [topic, groups] of this.#provisioned) await transport.deleteTopic(topic, [...groups]);
    } finally {
      this.#provisioned.clear();
      await transport.close();
    }
  }
}

/** Wraps a transport so every `provision` is remembered; methods run on the real transport. */
function recordProvisions(inner: Transport, record: Map<string, Set<string>>): Transport {
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'provision') {
        return async (topic: string, groups: string[]) => {
          const known = record.get(topic) ?? new Set<string>();
          for (const group of groups) known.add(group);
          record.set(topic, known);
          return target.provision(topic, groups);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
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
 * "42 of 1000 ids never completed: first 5: …".
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
  describe(): string {
    const missing = this.missing();
    return `${missing.length} of ${this.published.size} ids never completed: first 5: ${missing.slice(0, 5).join(', ')}`;
  }
}

/** Publishes `count` events spread over `keys` keys; each key's events are published in order. */
export async function publishKeyed(
  bus: Bus,
  contract: TestContract,
  count: number,
  keys: number,
  ledger?: Ledger,
  payload = 'x',
): Promise<{ key: string; seq: number; id: string }[]> {
  const byKey = new Map<string, number[]>();
  for (let seq = 0; seq < count; seq++) {
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
