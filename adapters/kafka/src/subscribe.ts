import {
  type Delivery,
  type Logger,
  PartitionTracker,
  type SubscribeRequest,
  type TransportSubscription,
  within,
} from '@omnibus/core';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { drainingAssigner } from './draining-assigner.ts';
import { isRebalanceError, toBrokerError } from './errors.ts';
import type { KafkaHealth } from './health.ts';
import { OffsetTracker } from './offsets.ts';
import type { KafkaOptions } from './options.ts';

const sleep = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(resolve, ms, 'timeout').unref());

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
 * - Completed offsets are committed every `commitIntervalMs`, on `stop`, on `close` and before rejoining.
 * - Before this member rejoins the group (a rebalance), it drains: every partition is revoked, the core
 *   hands back deliveries that have not started, running ones finish, and what completed is committed —
 *   only then does kafkajs send JoinGroup ({@link drainingAssigner}). The next owner of a partition therefore
 *   starts after this member's last handler of it ended: a key never runs on two members at once.
 * - A partition kept across a rebalance resumes after the last handed-over offset when everything handed
 *   over was acked; otherwise from the committed offset (released events run again, in order).
 * - `release()` leaves the offset uncommitted: Kafka redelivers it after a restart or rebalance.
 */
export class KafkaSubscription implements TransportSubscription {
  readonly #kafka: Kafka;
  readonly #request: SubscribeRequest;
  readonly #options: KafkaOptions;
  readonly #logger: Logger;
  readonly #health: KafkaHealth;
  /** The kafkajs consumer in use; replaced when one crashes for good (see {@link #recover}). */
  #consumer: Consumer;
  readonly #trackers = new Map<number, OffsetTracker>();
  readonly #partitions = new PartitionTracker<number>();
  #assigned = new Set<number>();
  /** Fired (and dropped) whenever a delivery settles or the subscription stops; created only when awaited. */
  #settled: { promise: Promise<void>; fire(): void } | undefined;
  #state: 'running' | 'stopped' | 'closed' = 'running';
  #rebalancing = false;
  #recovering: Promise<void> | undefined;
  /** The runner's heartbeat, kept to hold the session while a drain waits for handlers. */
  #heartbeat: (() => Promise<void>) | undefined;
  #commitTimer: NodeJS.Timeout | undefined;
  #committing: Promise<void> | undefined;
  #commitAgain = false;
  #joined: { resolve(): void; reject(error: Error): void } | undefined;
  #closed: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    options: KafkaOptions,
    request: SubscribeRequest,
    logger: Logger,
    health: KafkaHealth,
  ) {
    this.#kafka = kafka;
    this.#request = request;
    this.#options = options;
    this.#logger = logger;
    this.#health = health;
    this.#consumer = this.#newConsumer();
  }

  #newConsumer(): Consumer {
    const { options, request } = { options: this.#options, request: this.#request };
    const consumer = this.#kafka.consumer({
      groupId: request.group,
      partitionAssigners: [drainingAssigner(() => this.#drainBeforeJoin())],
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      maxWaitTimeInMs: Math.min(1000, options.heartbeatIntervalMs),
      allowAutoTopicCreation: false,
    });
    const current = () => consumer === this.#consumer;
    this.#health.watchConsumer(
      consumer,
      this,
      () => current() && this.#state !== 'closed',
      (error) => toBrokerError(error, `consuming ${request.topic} (group ${request.group})`, options).message,
    );
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (current()) this.#onAssignment(payload.memberAssignment[request.topic] ?? []);
    });
    consumer.on(consumer.events.REBALANCING, () => {
      if (current()) this.#rebalancing = true; // stop handing over; the drain runs before the rejoin
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!current() || this.#state === 'closed') return;
      const error = toBrokerError(
        payload.error,
        `consumer of ${request.topic} (group ${request.group})`,
        options,
      );
      // kafkajs restarts the consumer itself after a retriable crash (GROUP_LOAD_IN_PROGRESS right after a
      // broker started, a coordinator moving): that is not a failure, even while joining the first time.
      if (payload.restart) {
        this.#logger.warn({ err: error, topic: request.topic, group: request.group }, error.message);
        return;
      }
      if (this.#joined) this.#joined.reject(error);
      else void this.#recover(error);
    });
    return consumer;
  }

  /** Joins the group; resolves once partitions are assigned, so events published afterwards are seen. */
  async start(): Promise<void> {
    await this.#run(this.#consumer);
    this.#commitTimer = setInterval(() => void this.#commit(), this.#options.commitIntervalMs);
    this.#commitTimer.unref();
  }

  async #run(consumer: Consumer): Promise<void> {
    const { topic, group } = this.#request;
    const joined = new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject };
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
        throw new Error(`group ${group} was not assigned partitions of ${topic} within ${limit} ms`);
    } catch (error) {
      await consumer.disconnect().catch(() => {});
      throw toBrokerError(error, `subscribing to ${topic} (group ${group})`, this.#options);
    } finally {
      this.#joined = undefined;
    }
  }

  /**
   * kafkajs gives up on a consumer for good after some failures (e.g. no group coordinator for a while,
   * as during a broker restart). The subscription resumes by itself: it drains what the core holds as
   * for a rebalance, then joins again with a new consumer, retrying with backoff until it is back or
   * closed. The user hears about it through `onError` only if it is still down after a minute.
   */
  #recover(cause: Error): Promise<void> {
    this.#recovering ??= (async () => {
      const { topic, group } = this.#request;
      this.#logger.warn({ err: cause, topic, group }, `${cause.message} — resuming with a new consumer`);
      const began = Date.now();
      let reported = false;
      await this.#drainBeforeJoin();
      for (let attempt = 1; (this.#state as string) !== 'closed'; attempt++) {
        await this.#consumer.disconnect().catch(() => {});
        this.#trackers.clear();
        this.#assigned = new Set();
        this.#consumer = this.#newConsumer();
        try {
          await this.#run(this.#consumer);
          if (this.#state === 'stopped') this.#consumer.pause([{ topic }]);
          this.#logger.info({ topic, group, attempt }, `consumer of ${topic} (group ${group}) resumed`);
          return;
        } catch (error) {
          if (!reported && Date.now() - began > 60_000) {
            reported = true;
            this.#request.onError(
              toBrokerError(
                error,
                `resuming the consumer of ${topic} (group ${group}); still trying`,
                this.#options,
              ),
            );
          }
          await sleep(Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)));
        }
      }
    })().finally(() => {
      this.#recovering = undefined;
    });
    return this.#recovering;
  }

  /**
   * Java's onPartitionsRevoked, run before every JoinGroup: revoke every partition (the core hands back
   * what has not started), wait — heartbeating — until running handlers finish, commit. Bounded by the
   * rebalance time-out, after which the group would expel this member anyway; the user hears about it.
   */
  async #drainBeforeJoin(): Promise<void> {
    this.#rebalancing = true;
    const partitions = [...this.#assigned, ...this.#partitions.busy()];
    if (this.#partitions.inFlight() > 0) {
      this.#partitions.revoke(partitions);
      const deadline = Date.now() + this.#options.rebalanceTimeoutMs * 0.8;
      while (!(await this.#partitions.settled(partitions, this.#options.heartbeatIntervalMs))) {
        if (Date.now() > deadline) {
          this.#request.onError(
            toBrokerError(
              new Error(
                `${this.#partitions.inFlight()} handler(s) still running after ${Math.round(this.#options.rebalanceTimeoutMs * 0.8)} ms; their partitions move now and may run those events again elsewhere — raise rebalanceTimeoutMs above the slowest handler`,
              ),
              `draining ${this.#request.topic} before a rebalance (group ${this.#request.group})`,
              this.#options,
            ),
          );
          break;
        }
        await this.#heartbeat?.().catch(() => {}); // keeps the session alive while the group waits for us
      }
    }
    await this.#commit();
  }

  #onAssignment(partitions: number[]): void {
    const { topic } = this.#request;
    const assigned = new Set(partitions);
    for (const [partition, tracker] of this.#trackers) {
      if (!assigned.has(partition) || !tracker.allAcked) {
        // Gone, or events were handed back: kafkajs resumes from the committed offset, ahead of nothing.
        this.#trackers.delete(partition);
      } else if (tracker.nextFetchOffset !== undefined) {
        // Everything handed over completed: skip what is done instead of fetching it again.
        this.#consumer.seek({ topic, partition, offset: String(tracker.nextFetchOffset) });
      }
    }
    this.#partitions.assign(partitions);
    this.#assigned = assigned;
    this.#rebalancing = false;
    if (this.#state === 'stopped') this.#consumer.pause([{ topic }]);
    this.#joined?.resolve();
  }

  async #eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { partition } = batch;
    this.#heartbeat = heartbeat;
    const active = () =>
      this.#state === 'running' &&
      !this.#rebalancing &&
      isRunning() &&
      !isStale() &&
      this.#assigned.has(partition);
    for (const message of batch.messages) {
      if (!active()) return;
      while (this.#partitions.inFlight() >= this.#request.maxInFlight) {
        if (!(await within(this.#nextSettle(), this.#options.heartbeatIntervalMs)))
          await this.#beat(heartbeat);
        if (!active()) return;
      }
      const delivery = this.#deliver(partition, message);
      resolveOffset(message.offset);
      const accepted = this.#request.onDelivery(delivery);
      // The core usually accepts at once: check that first, and arm the heartbeat timer only when it does not.
      if (!(await settledNow(accepted)))
        while (!(await within(accepted, this.#options.heartbeatIntervalMs))) await this.#beat(heartbeat);
    }
  }

  /** Heartbeats; a rebalance stops the hand-over (the drain runs before the rejoin). */
  async #beat(heartbeat: () => Promise<void>): Promise<void> {
    try {
      await heartbeat();
    } catch (error) {
      if (isRebalanceError(error)) this.#rebalancing = true;
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
    const owner = tracker;
    return this.#partitions.track(
      partition,
      {
        key: message.key ? message.key.toString('utf8') : undefined,
        body: message.value ?? new Uint8Array(0),
        headers: decodeHeaders(message.headers),
      },
      {
        // Recorded at once, committed within commitIntervalMs (and on stop/close/rebalance): waiting for the
        // commit here would hold every later event of the key behind a broker round trip.
        ack: () => {
          if (this.#trackers.get(partition) === owner) owner.ack(offset);
          this.#wake();
          return SETTLED;
        },
        // Not acked: the commit stays below it, so the next owner (or this one, later) reads it again.
        release: () => {
          this.#wake();
          return SETTLED;
        },
      },
    );
  }

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
