import type { Delivery } from '../transport.ts';

/** What an adapter knows about a message when it hands it to the core. */
export type DeliveryInit = Pick<Delivery, 'key' | 'body' | 'headers' | 'deliveryCount' | 'touch'>;

/** The broker actions behind `ack` and `release`. */
export interface SettleActions {
  ack(): Promise<void>;
  release(): Promise<void>;
}

/** Optional bookkeeping around settlement (used by {@link PartitionTracker}). */
export interface SettleHooks {
  revoked(): boolean;
  settled(): void;
}

const DONE = Promise.resolve();

/**
 * A delivery whose first `ack` or `release` takes effect; every later call resolves at once without
 * effect. Every adapter needs this guard: a delivery can be settled from more than one path (a handler
 * finishing while `close()` hands the rest back, a revocation racing an ack).
 */
export function settleOnce(init: DeliveryInit, actions: SettleActions): Delivery {
  return new GuardedDelivery(init, actions, undefined);
}

/** One allocation per delivery: fields plus a settle-once guard; methods live on the prototype. */
export class GuardedDelivery implements Delivery {
  readonly key?: string;
  readonly body: Uint8Array;
  readonly headers: Record<string, string>;
  readonly deliveryCount?: number;
  readonly touch?: () => Promise<void>;
  readonly #actions: SettleActions;
  readonly #hooks: SettleHooks | undefined;
  #settled = false;

  constructor(init: DeliveryInit, actions: SettleActions, hooks: SettleHooks | undefined) {
    if (init.key !== undefined) this.key = init.key;
    this.body = init.body;
    this.headers = init.headers;
    if (init.deliveryCount !== undefined) this.deliveryCount = init.deliveryCount;
    if (init.touch) this.touch = init.touch;
    this.#actions = actions;
    this.#hooks = hooks;
  }

  get revoked(): boolean {
    return this.#hooks?.revoked() ?? false;
  }

  /** True once `ack` or `release` was called. */
  get settled(): boolean {
    return this.#settled;
  }

  ack(): Promise<void> {
    return this.#settle(this.#actions.ack);
  }

  release(): Promise<void> {
    return this.#settle(this.#actions.release);
  }

  #settle(action: () => Promise<void>): Promise<void> {
    if (this.#settled) return DONE;
    this.#settled = true;
    const hooks = this.#hooks;
    if (!hooks) return action.call(this.#actions);
    let done: Promise<void>;
    try {
      done = action.call(this.#actions);
    } catch (error) {
      hooks.settled();
      return Promise.reject(error);
    }
    return done.finally(() => hooks.settled());
  }
}
