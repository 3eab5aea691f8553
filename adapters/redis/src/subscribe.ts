import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type Logger,
  PartitionTracker,
  type SettleActions,
  type SubscribeRequest,
  type TransportSubscription,
} from '@omnibus/core';
import { AckBatcher } from './acks.ts';
import { createGroup, type RedisClient } from './connection.ts';
import { toBrokerError } from './errors.ts';
import { FieldDecoder, type TopicKeys } from './keys.ts';
import type { RedisOptions } from './options.ts';
import { Ownership } from './ownership.ts';
import { holds, LeasedDelivery, newPartition, type Partition } from './partition.ts';
import { type Entry, type ReadResult, readNew, reclaimPage } from './reads.ts';
import { TroubleReporter } from './trouble.ts';
import { Waiter } from './waiter.ts';

/** Most entries one read takes from one partition. */
const MAX_READ = 200;
/** Fewest a read asks for when there is room: many partitions then take turns rather than 2 entries each. */
const MIN_READ = 16;
const DONE = Promise.resolve();

/**
 * One group's consumer on the partition streams of a topic. {@link Ownership} decides which partitions
 * this instance reads; this class reads them and hands entries to the core:
 *
 * - A newly owned partition first takes over the group's pending entries of every consumer (XPENDING +
 *   XCLAIM pages, in ID order: what the previous owner held or handed back), then reads new entries with
 *   XREADGROUP `>`. Both run in scripts that check the lease first (fencing).
 * - One fetch loop serves every owned partition: each round reads the ready partitions side by side (one
 *   pipelined write), sharing the room left under `maxInFlight` between them.
 * - `release()` leaves the entry pending (Redis has no negative ack); on a partition this instance keeps,
 *   released entries are taken back in ID order before anything new is read, once nothing of it is in flight.
 *   A read or ack that failed on the wire does the same: its entries may be pending under this consumer.
 */
export class RedisSubscription implements TransportSubscription {
  readonly #client: RedisClient;
  readonly #options: RedisOptions;
  readonly #request: SubscribeRequest;
  readonly #partitions: Partition[];
  readonly #tracker = new PartitionTracker<number>();
  readonly #ownership: Ownership;
  readonly #acks: AckBatcher;
  readonly #waiter: Waiter | undefined;
  readonly #trouble: TroubleReporter;
  readonly #decoder = new FieldDecoder();
  /** Entries being read (asked for, not yet handed over). */
  #reserved = 0;
  /** Deliveries handed to the core and not yet acked or released. */
  #held = 0;
  #cursor = 0;
  #wake: (() => void) | undefined;
  #wakeScheduled = false;
  #stopped = false;
  #closed: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];

  constructor(
    client: RedisClient,
    options: RedisOptions,
    keys: TopicKeys,
    request: SubscribeRequest,
    logger: Logger,
  ) {
    this.#client = client;
    this.#options = options;
    this.#request = request;
    this.#trouble = new TroubleReporter(request, options);
    this.#partitions = Array.from({ length: options.partitions }, (_, p) =>
      newPartition(p, keys.stream(p), keys.lease(p, request.group)),
    );
    const member = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.#ownership = new Ownership(
      client,
      options,
      keys,
      request.group,
      member,
      this.#partitions,
      this.#tracker,
      {
        acquired: () => this.#changed(),
        changed: () => this.#changed(),
        trouble: (error, what) =>
          what === 'lost' ? this.#trouble.lost(error as Error) : this.#trouble.failed(error, what),
        healthy: () => this.#trouble.healthy(),
      },
    );
    this.#acks = new AckBatcher(
      client,
      request.group,
      (partition, consumer, error) => {
        if (partition.consumer === consumer) partition.reclaim = 'wanted'; // the XACK may not have happened
        return toBrokerError(error, `acknowledging on ${partition.stream}`, options);
      },
      () => this.#changed(),
    );
    this.#waiter = options.cluster
      ? undefined
      : new Waiter(client, options, this.#partitions, () => this.#changed(), logger);
  }

  /** Joins the group; resolves once this instance holds its share (or after three heartbeats). */
  async start(): Promise<void> {
    await Promise.all(this.#partitions.map((p) => this.ensureGroup(p.stream)));
    await this.#ownership.tick();
    const { heartbeatIntervalMs, pollIntervalMs } = this.#options;
    this.#timers.push(
      setInterval(
        () =>
          void this.#ownership.tick().then(
            () => this.#changed(),
            (error: unknown) => this.#trouble.failed(error, 'renewing leases'),
          ),
        heartbeatIntervalMs,
      ),
    );
    if (this.#waiter) void this.#waiter.run();
    else this.#timers.push(setInterval(() => this.#wakeIdle(), pollIntervalMs));
    for (const timer of this.#timers) timer.unref();
    void this.#run();
    const deadline = Date.now() + 3 * heartbeatIntervalMs;
    while (!this.#ownership.settled && Date.now() < deadline && !this.#stopped) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  ensureGroup(stream: string): Promise<void> {
    return createGroup(this.#client, this.#options, stream, this.#request.group);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      // Room counts what the core has not settled yet; an ack on its way to Redis frees its slot, as a
      // Kafka offset recorded for the next commit does (the drain still waits for the ack's reply).
      const free = this.#request.maxInFlight - this.#held - this.#reserved;
      const now = performance.now();
      const ready = this.#partitions.filter((p) => this.#ready(p, now));
      if (free > 0 && ready.length > 0) {
        const first = this.#cursor % ready.length;
        const share = Math.max(Math.min(free, MIN_READ), Math.floor(free / ready.length));
        let budget = free;
        for (let i = 0; i < ready.length && budget > 0; i++) {
          const count = Math.min(share, budget, MAX_READ);
          budget -= count;
          void this.#read(ready[(first + i) % ready.length]!, count);
          this.#cursor++; // the next round starts after the partitions read now
        }
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #ready(p: Partition, now: number): boolean {
    if (p.state !== 'owned' || p.reading || now < p.retryAt || now >= p.validUntil) return false;
    if (p.reclaim === 'wanted') return this.#tracker.inFlight(p.index) === 0;
    return p.reclaim !== undefined || !p.idle;
  }

  /** Wakes the fetch loop after the current turn (settle hooks of the tracker run first). */
  #changed(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    });
  }

  /** A delivery is being acked or released (the kit's guard calls each action at most once). */
  #settling(): void {
    this.#held--;
    this.#changed();
  }

  /** Cluster: idle partitions are read again once their poll delay has passed. */
  #wakeIdle(): void {
    let any = false;
    const now = performance.now();
    for (const p of this.#partitions) {
      if (p.idle && p.state === 'owned' && now >= p.nextPollAt) {
        p.idle = false;
        any = true;
      }
    }
    if (any) this.#changed();
  }

  async #read(p: Partition, count: number): Promise<void> {
    const consumer = p.consumer!;
    const reclaim = p.reclaim;
    p.reading = true;
    this.#reserved += count;
    try {
      const { group } = this.#request;
      const result =
        reclaim === undefined
          ? await readNew(this.#client, p, consumer, group, count, this.#waiter !== undefined)
          : await reclaimPage(this.#client, p, consumer, group, reclaim, count);
      this.#trouble.healthy();
      await this.#found(p, consumer, reclaim, result);
    } catch (error) {
      // Whatever the read took may now be pending under this consumer: take it back before reading on.
      if (p.consumer === consumer) p.reclaim = 'wanted';
      p.retryAt = performance.now() + this.#options.pollIntervalMs;
      setTimeout(() => this.#changed(), this.#options.pollIntervalMs).unref();
      this.#trouble.failed(error, `reading ${p.stream}`);
    } finally {
      p.reading = false;
      this.#reserved -= count;
      this.#changed();
    }
  }

  /** Acts on what a read found: hand entries over, note an idle partition, or react to a refusal. */
  async #found(p: Partition, consumer: string, from: string | undefined, result: ReadResult): Promise<void> {
    switch (result.kind) {
      case 'entries':
        p.pollDelay = 0;
        if (from !== undefined && p.reclaim === from) p.reclaim = result.next;
        return this.#handOver(p, consumer, result.entries, result.previous);
      case 'empty': {
        // Without a waiter (cluster), an idle partition is polled every pollIntervalMs, doubling per
        // empty read up to 16×: an idle subscription costs little, a busy one reads back to back.
        const { pollIntervalMs } = this.#options;
        p.pollDelay = Math.min(p.pollDelay === 0 ? pollIntervalMs : p.pollDelay * 2, pollIntervalMs * 16);
        p.nextPollAt = performance.now() + p.pollDelay;
        p.idle = true;
        if (result.lastDelivered) p.lastDelivered = result.lastDelivered;
        this.#waiter?.watch(p);
        return;
      }
      case 'reclaimed':
        if (p.reclaim === from) p.reclaim = undefined;
        return;
      case 'lost':
        this.#trouble.lost(new Error(`lost the lease of partition ${p.index} (another instance holds it)`));
        void this.#ownership.leave(p);
        return;
      case 'no-group':
        await this.ensureGroup(p.stream);
        p.reclaim = 'wanted';
    }
  }

  /**
   * Hands entries to the core in stream order, each tracked by partition. `previous` holds the delivery
   * counts of reclaimed entries before this claim. Entries read after the partition was lost or the
   * subscription stopped stay pending: the next owner takes them back.
   */
  #handOver(
    p: Partition,
    consumer: string,
    entries: Entry[],
    previous: Map<string, number> | undefined,
  ): void {
    for (const [idBytes, fields] of entries) {
      if (this.#stopped || !holds(p, consumer)) {
        // Pending under this consumer now: if the partition stays ours after all, take them back first.
        if (p.consumer === consumer) p.reclaim = 'wanted';
        return;
      }
      const id = idBytes.toString();
      const { key, body, headers } = this.#decoder.decode(id, fields);
      const actions: SettleActions = {
        ack: () => {
          this.#settling();
          return this.#acks.ack(p, consumer, id);
        },
        release: () => {
          this.#settling();
          // Left pending. Still ours and not being handed over: take it back before reading on.
          if (
            !this.#stopped &&
            p.consumer === consumer &&
            p.state === 'owned' &&
            !this.#tracker.isRevoked(p.index)
          ) {
            p.reclaim = 'wanted';
          }
          this.#changed();
          return DONE;
        },
      };
      const deliveryCount = previous ? (previous.get(id) ?? 0) + 1 : 1;
      this.#held++;
      const inner = this.#tracker.track(p.index, { key, body, headers, deliveryCount }, actions);
      this.#request
        .onDelivery(new LeasedDelivery(inner, p, consumer))
        .catch((error: unknown) => this.#request.onError(error as Error));
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#trouble.stopped = true;
    this.#ownership.stop();
    this.#waiter?.stop();
    this.#changed();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.stop();
      for (const timer of this.#timers) clearInterval(timer);
      const deadline = Date.now() + 5_000;
      while (this.#partitions.some((p) => p.reading) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await this.#acks.flush();
      await this.#ownership.close();
    })();
    return this.#closed;
  }
}
