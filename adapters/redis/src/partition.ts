import type { Delivery } from '@omnibus/core';

/** One partition stream of a subscription, as this instance sees it. */
export interface Partition {
  readonly index: number;
  readonly stream: string;
  readonly lease: string;
  /**
   * free: not ours. acquiring: SET NX on the wire. owned: ours, read and handed over. leaving: revoked,
   * waiting for its deliveries to settle before the lease is dropped.
   */
  state: 'free' | 'acquiring' | 'owned' | 'leaving';
  /** Consumer name of the current acquisition, also the lease's value (`<member>#<n>`). */
  consumer: string | undefined;
  /** `performance.now()` until which the lease is surely ours (renewal sent time + lease − margin). */
  validUntil: number;
  /**
   * Pending entries to take back before reading new ones: `wanted` (start from the oldest once nothing of
   * the partition is in flight), the exclusive start of the next XPENDING page, or undefined (none).
   */
  reclaim: string | undefined;
  /** The last read found nothing new; woken by the blocking waiter or the poll timer. */
  idle: boolean;
  /** Cluster polling: the current delay between reads of an idle partition, and when it is next due. */
  pollDelay: number;
  nextPollAt: number;
  /** The group's last-delivered ID, where the waiter's XREAD starts. */
  lastDelivered: string | undefined;
  /** A read or reclaim of this partition is on the wire (never two at once: order). */
  reading: boolean;
  /** After a failed read, not before this `performance.now()`. */
  retryAt: number;
  /** Entries acknowledged since the partition was last trimmed. */
  acked: number;
}

export function newPartition(index: number, stream: string, lease: string): Partition {
  return {
    index,
    stream,
    lease,
    state: 'free',
    consumer: undefined,
    validUntil: 0,
    reclaim: undefined,
    idle: false,
    pollDelay: 0,
    nextPollAt: 0,
    lastDelivered: undefined,
    reading: false,
    retryAt: 0,
    acked: 0,
  };
}

/** True while `consumer` is the partition's current owner and its lease cannot have run out yet. */
export function holds(partition: Partition, consumer: string): boolean {
  return (
    partition.state === 'owned' && partition.consumer === consumer && performance.now() < partition.validUntil
  );
}

/**
 * Whether this instance still holds the lease a delivery was read under. Unlike {@link holds}, true while the
 * partition is being given up (`leaving`): its lease is renewed until every delivery of it has settled, so a
 * handler that runs through a hand-over or a close keeps its event and acks it — nothing new starts there
 * (`revoked` is true), but what runs is not handed back for another instance to run again.
 */
export function leaseHeld(partition: Partition, consumer: string): boolean {
  return (
    (partition.state === 'owned' || partition.state === 'leaving') &&
    partition.consumer === consumer &&
    performance.now() < partition.validUntil
  );
}

/**
 * What the core receives: the kit's settle-once delivery, revoked also when the lease it was read under may
 * have run out — checked against the clock at every start, so a process that was paused past its lease does
 * not start a handler on a partition another instance may already own.
 */
export class LeasedDelivery implements Delivery {
  readonly key?: string;
  readonly body: Uint8Array;
  readonly headers: Record<string, string>;
  readonly deliveryCount?: number;
  readonly #inner: Delivery;
  readonly #partition: Partition;
  readonly #consumer: string;

  constructor(inner: Delivery, partition: Partition, consumer: string) {
    if (inner.key !== undefined) this.key = inner.key;
    this.body = inner.body;
    this.headers = inner.headers;
    if (inner.deliveryCount !== undefined) this.deliveryCount = inner.deliveryCount;
    this.#inner = inner;
    this.#partition = partition;
    this.#consumer = consumer;
  }

  get revoked(): boolean {
    return this.#inner.revoked === true || !holds(this.#partition, this.#consumer);
  }

  /**
   * The delivery's lease is its partition's lease, which this instance renews on a timer: the keep-alive
   * only confirms it still holds. Rejects once it may have run out (the core then hands the event back
   * rather than acking what another instance may already be running).
   */
  touch(): Promise<void> {
    if (leaseHeld(this.#partition, this.#consumer)) return Promise.resolve();
    return Promise.reject(new Error(`the lease of ${this.#partition.stream} was lost`));
  }

  ack(): Promise<void> {
    return this.#inner.ack();
  }

  release(): Promise<void> {
    return this.#inner.release();
  }
}
