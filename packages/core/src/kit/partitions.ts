import type { Delivery } from '../transport.ts';
import { type DeliveryInit, GuardedDelivery, type SettleActions } from './settle.ts';

interface Waiter<P> {
  partitions: ReadonlySet<P>;
  resolve(): void;
}

/**
 * Drain-before-hand-over, in one place. An adapter whose broker moves partitions between instances (Kafka
 * rebalances, RabbitMQ single-active-consumer hand-overs, Redis partition leases, memory://):
 *
 * 1. hands every delivery to the core through {@link track} (which also makes it settle-once);
 * 2. when a partition is to move, calls {@link revoke} and stops handing over from it;
 * 3. gives the partition up (rejoins, closes the channel, drops the lease) only after {@link settled}
 *    resolves — {@link drain} does 2 and 3's wait together.
 *
 * Revoked deliveries whose handler has not started are released by the core at once (`Delivery.revoked`);
 * the drain waits only for handlers already running. So a key never runs on two instances at once, and the
 * next owner starts exactly where this one stopped.
 */
export class PartitionTracker<P = number> {
  readonly #inFlight = new Map<P, number>();
  readonly #revoked = new Set<P>();
  readonly #waiters = new Set<Waiter<P>>();
  readonly #onSettled: ((partition: P) => void) | undefined;

  /**
   * `onSettled` runs after each delivery's settle is counted: an adapter that holds deliveries back while
   * `maxInFlight` are unsettled hands the next one over from there (an adapter's own `ack` runs before the
   * count drops, so it cannot).
   */
  constructor(onSettled?: (partition: P) => void) {
    this.#onSettled = onSettled;
  }

  /** Wraps a delivery from `partition`: counted until its first `ack`/`release`, revoked with its partition. */
  track(partition: P, init: DeliveryInit, actions: SettleActions): Delivery {
    this.#inFlight.set(partition, (this.#inFlight.get(partition) ?? 0) + 1);
    return new GuardedDelivery(init, actions, {
      revoked: () => this.#revoked.has(partition),
      settled: () => this.#settled(partition),
    });
  }

  /** Unsettled deliveries of `partition`, or of every partition. */
  inFlight(partition?: P): number {
    if (partition !== undefined) return this.#inFlight.get(partition) ?? 0;
    let total = 0;
    for (const count of this.#inFlight.values()) total += count;
    return total;
  }

  /** Partitions with unsettled deliveries. */
  busy(): P[] {
    return [...this.#inFlight.keys()];
  }

  isRevoked(partition: P): boolean {
    return this.#revoked.has(partition);
  }

  /** Marks partitions as leaving: their deliveries that have not started are handed back by the core. */
  revoke(partitions: Iterable<P>): void {
    for (const partition of partitions) this.#revoked.add(partition);
  }

  /** Takes partitions (back): their deliveries start normally again. */
  assign(partitions: Iterable<P>): void {
    for (const partition of partitions) this.#revoked.delete(partition);
  }

  /** Resolves true once no delivery of `partitions` is unsettled, or false after `timeoutMs`. */
  settled(partitions: Iterable<P>, timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const set = new Set(partitions);
    if (![...set].some((p) => this.#inFlight.has(p))) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter<P> = {
        partitions: set,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.#waiters.add(waiter);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.#waiters.delete(waiter);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /** {@link revoke} then {@link settled}: the partitions can be handed over once it resolves true. */
  drain(partitions: Iterable<P>, timeoutMs?: number): Promise<boolean> {
    const list = [...partitions];
    this.revoke(list);
    return this.settled(list, timeoutMs);
  }

  #settled(partition: P): void {
    const left = (this.#inFlight.get(partition) ?? 1) - 1;
    if (left > 0) {
      this.#inFlight.set(partition, left);
    } else {
      this.#inFlight.delete(partition);
      for (const waiter of this.#waiters) {
        if (![...waiter.partitions].some((p) => this.#inFlight.has(p))) {
          this.#waiters.delete(waiter);
          waiter.resolve();
        }
      }
    }
    this.#onSettled?.(partition);
  }
}
