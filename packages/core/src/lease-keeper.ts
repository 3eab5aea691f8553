import { SubscriptionError } from './errors.ts';
import type { Delivery } from './transport.ts';

interface Lease {
  touchedAt: number;
  touching: boolean;
  lost: boolean;
}

/**
 * Keeps leased deliveries alive (`capabilities.deliveryLeaseMs`): every delivery the core holds — running,
 * waiting in backoff, or queued behind its key — is touched once it is a third of a lease old, so the broker
 * never hands it to another consumer while this one still owns it. A touch that fails marks the lease lost:
 * the core then hands the delivery back instead of starting or acking it. Brokers without leases cost nothing.
 */
export class LeaseKeeper {
  readonly #intervalMs: number;
  readonly #onError: (error: Error) => void;
  readonly #leases = new Map<Delivery, Lease>();
  #timer: NodeJS.Timeout | undefined;

  constructor(leaseMs: number | undefined, onError: (error: Error) => void) {
    this.#intervalMs = leaseMs && leaseMs > 0 ? Math.max(1, Math.floor(leaseMs / 3)) : 0;
    this.#onError = onError;
  }

  hold(delivery: Delivery): void {
    if (this.#intervalMs === 0 || !delivery.touch) return;
    this.#leases.set(delivery, { touchedAt: Date.now(), touching: false, lost: false });
    // Ticks twice per interval: a delivery is touched between 1/3 and 1/2 of a lease after its last touch,
    // leaving half a lease for the touch to reach the broker (a slow broker under load needs it).
    this.#timer ??= setInterval(() => this.#tick(), Math.max(1, Math.floor(this.#intervalMs / 2)));
  }

  drop(delivery: Delivery): void {
    if (this.#leases.delete(delivery) && this.#leases.size === 0) this.stop();
  }

  lost(delivery: Delivery): boolean {
    return this.#leases.get(delivery)?.lost === true;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const due = Date.now() - this.#intervalMs;
    for (const [delivery, lease] of this.#leases) {
      if (lease.touching || lease.lost || lease.touchedAt > due) continue;
      lease.touching = true;
      const sentAt = Date.now();
      delivery.touch!().then(
        () => {
          lease.touchedAt = sentAt;
          lease.touching = false;
        },
        (error: unknown) => {
          lease.touching = false;
          // Settled and dropped meanwhile (acked or handed back): a refused touch no longer matters.
          if (this.#leases.get(delivery) !== lease) return;
          lease.lost = true;
          this.#onError(
            new SubscriptionError(
              'LEASE_LOST',
              `lost the lease of a delivery; it is handed back: ${(error as Error)?.message}`,
              { cause: error },
            ),
          );
        },
      );
    }
  }
}
