import { BrokerError } from '@omnibus/core';
import { type RedisClient, runScript } from './connection.ts';
import type { Partition } from './partition.ts';

interface Batch {
  partition: Partition;
  consumer: string;
  ids: string[];
  waiters: { resolve(): void; reject(error: Error): void }[];
}

/** Most IDs in one XACK (Lua's unpack has a stack limit around 8000). */
const MAX_IDS = 1_000;

/**
 * Acknowledgements, batched: the acks of one partition (and one acquisition) made in the same turn of the
 * event loop become one XACK, inside the fencing script, so a stale owner's ack is refused; auto-pipelining
 * sends every partition's batch in one write. An ack resolves once Redis has recorded it.
 */
export class AckBatcher {
  readonly #client: RedisClient;
  readonly #group: string;
  readonly #onFailure: (partition: Partition, consumer: string, error: Error) => Error;
  readonly #batches = new Map<string, Batch>();
  readonly #flushing = new Set<Promise<void>>();
  #scheduled = false;

  constructor(
    client: RedisClient,
    group: string,
    onFailure: (partition: Partition, consumer: string, error: Error) => Error,
  ) {
    this.#client = client;
    this.#group = group;
    this.#onFailure = onFailure;
  }

  ack(partition: Partition, consumer: string, id: string): Promise<void> {
    const name = `${partition.index}\u0000${consumer}`;
    let batch = this.#batches.get(name);
    if (!batch) {
      batch = { partition, consumer, ids: [], waiters: [] };
      this.#batches.set(name, batch);
    }
    batch.ids.push(id);
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    if (batch.ids.length >= MAX_IDS) {
      this.#batches.delete(name);
      this.#track(this.#send(batch));
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  /** Sends what is queued; resolves once every ack sent so far has its reply. */
  async flush(): Promise<void> {
    this.#scheduled = false;
    const batches = [...this.#batches.values()];
    this.#batches.clear();
    for (const batch of batches) this.#track(this.#send(batch));
    await Promise.all([...this.#flushing]);
  }

  #track(sending: Promise<void>): void {
    this.#flushing.add(sending);
    void sending.finally(() => this.#flushing.delete(sending));
  }

  async #send({ partition, consumer, ids, waiters }: Batch): Promise<void> {
    try {
      const acked = await runScript<number>(
        this.#client,
        'omnibusAck',
        [partition.stream, partition.lease],
        [consumer, this.#group, ...ids],
      );
      if (acked === -1) {
        const error = new BrokerError(
          `[omnibus] [redis] ${ids.length} ack(s) on ${partition.stream} refused: this instance no longer holds the partition's lease (it was paused or cut off for longer than leaseMs), so another instance delivers those events again`,
        );
        for (const waiter of waiters) waiter.reject(error);
        return;
      }
      partition.acked += ids.length;
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      const failure = this.#onFailure(partition, consumer, error as Error);
      for (const waiter of waiters) waiter.reject(failure);
    }
  }
}
