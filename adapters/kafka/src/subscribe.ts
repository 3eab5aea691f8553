import type { Delivery, SubscribeRequest, TransportSubscription } from '@omnibus/core';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { subscriptionAwareRoundRobin } from './assigner.ts';
import { isRebalanceError, toBrokerError } from './errors.ts';
import { OffsetTracker } from './offsets.ts';
import type { KafkaOptions } from './options.ts';

const sleep = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(resolve, ms, 'timeout').unref());

/** True if `promise` settles within `ms`, false on time-out (the timer is cleared either way). */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}

/**
 * True if `promise` is already settled (its reaction runs before this function's continuation), false if
 * it is still pending. Costs one microtask turn and no timer.
 */
async function settledNow(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  promise.then(mark, mark);
  await undefined;
  return settled;
}

function signal(): { promise: Promise<void>; fire(): void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

/**
 * One consumer-group member for one topic.
 *
 * - Messages are handed to the core in offset order per partition (`eachBatch`, one partition batch at a
 *   time), never more than `maxInFlight` unsettled at once; the fetch position moves as messages are
 *   handed over, the commit position only as they are acked ({@link OffsetTracker}).
 * - Completed offsets are committed every `commitIntervalMs`, on `stop`, on `close` and when a rebalance
 *   starts. A rebalance noticed while handing over waits (bounded) for in-flight deliveries to settle and
 *   commits them before the partitions move, as Java's `onPartitionsRevoked` does.
 * - Partitions kept across a rebalance resume after the last handed-over offset (no duplicates);
 *   revoked ones are forgotten (their late acks do not commit: the new owner may be ahead).
 * - `release()` leaves the offset uncommitted: Kafka redelivers it after a restart or rebalance.
 */
export class KafkaSubscription implements TransportSubscription {
  readonly #request: SubscribeRequest;
  readonly #options: KafkaOptions;
  readonly #consumer: Consumer;
  readonly #trackers = new Map<number, OffsetTracker>();
  #assigned = new Set<number>();
  #inFlight = 0;
  /** Fired (and dropped) whenever a delivery settles or the subscription stops; created only when awaited. */
  #settled: { promise: Promise<void>; fire(): void } | undefined;
  #state: 'running' | 'stopped' | 'closed' = 'running';
  #rebalancing = false;
  #commitTimer: NodeJS.Timeout | undefined;
  #committing: Promise<void> | undefined;
  #commitAgain = false;
  #joined: { resolve(): void; reject(error: Error): void } | undefined;
  #closed: Promise<void> | undefined;

  constructor(kafka: Kafka, options: KafkaOptions, request: SubscribeRequest) {
    this.#request = request;
    this.#options = options;
    this.#consumer = kafka.consumer({
      groupId: request.group,
      partitionAssigners: [subscriptionAwareRoundRobin],
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      maxWaitTimeInMs: Math.min(1000, options.heartbeatIntervalMs),
      allowAutoTopicCreation: false,
    });
  }

  /** Joins the group; resolves once partitions are assigned, so events published afterwards are seen. */
  async start(): Promise<void> {
    const { topic } = this.#request;
    const consumer = this.#consumer;
    const joined = new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject };
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
      this.#onAssignment(payload.memberAssignment[topic] ?? []),
    );
    consumer.on(consumer.events.REBALANCING, () => {
      // Stop handing over; what was handed over keeps running in the core. Commit what completed.
      this.#rebalancing = true;
      void this.#commit();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      const error = toBrokerError(
        payload.error,
        `consumer of ${topic} (group ${this.#request.group})`,
        this.#options,
      );
      if (this.#joined) this.#joined.reject(error);
      else if (!payload.restart && this.#state !== 'closed') this.#request.onError(error);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: this.#options.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        // Hand over several partitions' batches side by side: one partition holds only a few keys, and
        // filling maxInFlight from it alone would leave the core's concurrency across keys unused.
        partitionsConsumedConcurrently: Math.min(Math.max(this.#options.partitions, 1), 32),
        eachBatch: (payload) => this.#eachBatch(payload),
      });
      const limit = this.#options.rebalanceTimeoutMs + this.#options.sessionTimeoutMs + 10_000;
      const outcome = await Promise.race([joined, sleep(limit)]);
      if (outcome === 'timeout')
        throw new Error(
          `group ${this.#request.group} was not assigned partitions of ${topic} within ${limit} ms`,
        );
    } catch (error) {
      this.#joined = undefined;
      await consumer.disconnect().catch(() => {});
      throw toBrokerError(error, `subscribing to ${topic} (group ${this.#request.group})`, this.#options);
    }
    this.#joined = undefined;
    this.#commitTimer = setInterval(() => void this.#commit(), this.#options.commitIntervalMs);
    this.#commitTimer.unref();
  }

  #onAssignment(partitions: number[]): void {
    const { topic } = this.#request;
    const assigned = new Set(partitions);
    for (const [partition, tracker] of this.#trackers) {
      if (!assigned.has(partition)) this.#trackers.delete(partition);
      else if (tracker.nextFetchOffset !== undefined) {
        // kafkajs restarts from the committed offset after a rebalance; skip what the core already holds.
        this.#consumer.seek({ topic, partition, offset: String(tracker.nextFetchOffset) });
      }
    }
    this.#assigned = assigned;
    this.#rebalancing = false;
    if (this.#state === 'stopped') this.#consumer.pause([{ topic }]);
    this.#joined?.resolve();
  }

  async #eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { partition } = batch;
    const active = () =>
      this.#state === 'running' &&
      !this.#rebalancing &&
      isRunning() &&
      !isStale() &&
      this.#assigned.has(partition);
    for (const message of batch.messages) {
      if (!active()) return;
      while (this.#inFlight >= this.#request.maxInFlight) {
        if (!(await within(this.#nextSettle(), this.#options.heartbeatIntervalMs)))
          await this.#heartbeat(heartbeat);
        if (!active()) return;
      }
      const delivery = this.#deliver(partition, message);
      resolveOffset(message.offset);
      const accepted = this.#request.onDelivery(delivery);
      // The core usually accepts at once: check that first, and arm the heartbeat timer only when it does not.
      if (!(await settledNow(accepted)))
        while (!(await within(accepted, this.#options.heartbeatIntervalMs))) await this.#heartbeat(heartbeat);
    }
  }

  /** Heartbeats; when the group is rebalancing, lets in-flight deliveries settle and commits them first. */
  async #heartbeat(heartbeat: () => Promise<void>): Promise<void> {
    try {
      await heartbeat();
    } catch (error) {
      if (isRebalanceError(error)) {
        this.#rebalancing = true;
        const deadline = Date.now() + Math.min(this.#options.rebalanceTimeoutMs / 2, 15_000);
        while (this.#inFlight > 0 && Date.now() < deadline) {
          if (!(await within(this.#nextSettle(), this.#options.heartbeatIntervalMs))) {
            await heartbeat().catch(() => {}); // keeps the session alive while the group waits for us
          }
        }
        await this.#commit();
      }
      throw error;
    }
  }

  #deliver(partition: number, message: KafkaMessage): Delivery {
    let tracker = this.#trackers.get(partition);
    if (!tracker) {
      tracker = new OffsetTracker();
      this.#trackers.set(partition, tracker);
    }
    const offset = Number(message.offset);
    tracker.add(offset);
    this.#inFlight++;
    return new KafkaDelivery(
      message.key ? message.key.toString('utf8') : undefined,
      message.value ?? new Uint8Array(0),
      decodeHeaders(message.headers),
      tracker,
      offset,
      partition,
      this.#onSettle,
    );
  }

  /** Called once per delivery, by its first `ack` or `release`. */
  readonly #onSettle = (delivery: KafkaDelivery, ack: boolean): void => {
    this.#inFlight--;
    if (ack && this.#trackers.get(delivery.partition) === delivery.tracker)
      delivery.tracker.ack(delivery.offset);
    this.#wake();
  };

  /** Resolves at the next settle (or stop). */
  #nextSettle(): Promise<void> {
    this.#settled ??= signal();
    return this.#settled.promise;
  }

  #wake(): void {
    const settled = this.#settled;
    this.#settled = undefined;
    settled?.fire();
  }

  /** Commits, for every partition still assigned, the offset below which everything was acked. */
  #commit(): Promise<void> {
    if (this.#committing) {
      this.#commitAgain = true;
      return this.#committing;
    }
    this.#committing = (async () => {
      do {
        this.#commitAgain = false;
        const offsets: { topic: string; partition: number; offset: string }[] = [];
        const marks: [OffsetTracker, number][] = [];
        for (const [partition, tracker] of this.#trackers) {
          const offset = tracker.pendingCommit();
          if (offset === undefined || !this.#assigned.has(partition)) continue;
          offsets.push({ topic: this.#request.topic, partition, offset: String(offset) });
          marks.push([tracker, offset]);
        }
        if (offsets.length === 0) break;
        try {
          await this.#consumer.commitOffsets(offsets);
          for (const [tracker, offset] of marks) tracker.markCommitted(offset);
        } catch {
          // Rebalance or broker blip: the next interval tries again; uncommitted work is redelivered, never lost.
        }
      } while (this.#commitAgain);
    })().finally(() => {
      this.#committing = undefined;
    });
    return this.#committing;
  }

  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'stopped';
    this.#wake();
    try {
      this.#consumer.pause([{ topic: this.#request.topic }]); // stops fetching; heartbeats go on
    } catch {
      // The consumer already crashed for good: nothing is fetched anyway.
    }
    await this.#commit();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.stop();
      clearInterval(this.#commitTimer);
      await this.#commit(); // acks that arrived between stop and close
      this.#state = 'closed';
      await this.#consumer.disconnect().catch(() => {});
    })();
    return this.#closed;
  }
}

const SETTLED = Promise.resolve();

/**
 * One handed-over message. A class rather than an object of closures: one allocation per message. Acks
 * are recorded at once and committed within commitIntervalMs (and on stop/close/rebalance): waiting for
 * the commit here would hold every later event of the key behind a broker round trip.
 */
class KafkaDelivery implements Delivery {
  readonly key: string | undefined;
  readonly body: Uint8Array;
  readonly headers: Record<string, string>;
  readonly tracker: OffsetTracker;
  readonly offset: number;
  readonly partition: number;
  readonly #onSettle: (delivery: KafkaDelivery, ack: boolean) => void;
  #settled = false;

  constructor(
    key: string | undefined,
    body: Uint8Array,
    headers: Record<string, string>,
    tracker: OffsetTracker,
    offset: number,
    partition: number,
    onSettle: (delivery: KafkaDelivery, ack: boolean) => void,
  ) {
    this.key = key;
    this.body = body;
    this.headers = headers;
    this.tracker = tracker;
    this.offset = offset;
    this.partition = partition;
    this.#onSettle = onSettle;
  }

  ack(): Promise<void> {
    this.#settle(true);
    return SETTLED;
  }

  release(): Promise<void> {
    this.#settle(false);
    return SETTLED;
  }

  #settle(ack: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#onSettle(this, ack);
  }
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  // for…in and toString() without arguments (utf-8, no encoding lookup): once per header per message.
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const value = headers[name];
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last !== undefined) out[name] = typeof last === 'string' ? last : last.toString();
  }
  return out;
}
