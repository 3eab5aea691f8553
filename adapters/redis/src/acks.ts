import { BrokerError } from '@omnibus/core';
import { type RedisClient, runScript } from './connection.ts';
import type { Partition } from './partition.ts';

interface Batch {
  partition: Partition;
  consumer: string;
  ids: string[];
  /** Settles once Redis answered this batch's XACK: every ack of the batch shares it. */
  done: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

/** Most IDs in one XACK (Lua's unpack has a stack limit around 8000). */
const MAX_IDS = 1_000;

/**
 * Acknowledgements, batched: the acks of one partition (and one acquisition) made in the same turn of the
 * event loop become one XACK, inside the fencing script, so a stale owner's ack is refused; auto-pipelining
 * sends every partition's batch in one write. An ack resolves once Redis has recorded it; the acks of a
 * batch share one promise, and `settled` runs once per batch after its reply.
 */
export class AckBatcher {
  readonly #client: RedisClient;
  readonly #group: string;
  readonly #onFailure: (partition: Partition, consumer: string, error: Error) => Error;
  readonly #settled: () => void;
  readonly #batches = new Map<Partition, Batch>();
  readonly #flushing = new Set<Promise<void>>();
  #scheduled = false;

  constructor(
    client: RedisClient,
    group: string,
    onFailure: (partition: Partition, consumer: string, error: Error) => Error,
    settled: () => void = () => {},
  ) {
    this.#client = client;
    this.#group = group;
    this.#onFailure = onFailure;
    this.#settled = settled;
  }

  ack(partition: Partition, consumer: string, id: string): Promise<void> {
    let batch = this.#batches.get(partition);
    if (batch && batch.consumer !== consumer) {
      // Acks of an earlier acquisition of this partition: their batch goes out as it is (fenced apart).
      this.#batches.delete(partition);
      this.#track(this.#send(batch));
      batch = undefined;
    }
    if (!batch) {
      batch = newBatch(partition, consumer);
      this.#batches.set(partition, batch);
    }
    batch.ids.push(id);
    if (batch.ids.length >= MAX_IDS) {
      this.#batches.delete(partition);
      this.#track(this.#send(batch));
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    return batch.done;
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

  async #send({ partition, consumer, ids, resolve, reject }: Batch): Promise<void> {
    try {
      const acked = await runScript<number>(
        this.#client,
        'omnibusAck',
        [partition.stream, partition.lease],
        [consumer, this.#group, ...ids],
      );
      if (acked === -1) {
        reject(
          new BrokerError(
            `[omnibus] [redis] ${ids.length} ack(s) on ${partition.stream} refused: this instance no longer holds the partition's lease (it was paused or cut off for longer than leaseMs), so another instance delivers those events again`,
          ),
        );
        return;
      }
      partition.acked += ids.length;
      resolve();
    } catch (error) {
      reject(this.#onFailure(partition, consumer, error as Error));
    } finally {
      this.#settled();
    }
  }
}

function newBatch(partition: Partition, consumer: string): Batch {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const done = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { partition, consumer, ids: [], done, resolve, reject };
}
