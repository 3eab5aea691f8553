import { fitDeadLetter } from './dead-letter.ts';
import { DEAD_LETTER_HEADERS, DEAD_LETTER_HEADROOM_BYTES } from './envelope.ts';
import { SubscriptionError } from './errors.ts';
import type { SubscriptionHealth } from './health.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { KeyedScheduler, type SlotControl } from './keyed-scheduler.ts';
import { LeaseKeeper } from './lease-keeper.ts';
import { failed, type HandleContext, type Hooks } from './middleware.ts';
import { type BackoffOptions, backoffDelay, cancellableSleep, settlesWithin } from './retry.ts';
import type { Delivery, Transport, TransportSubscription } from './transport.ts';

/**
 * The consume loop shared by every adapter: per-key ordering with bounded concurrency, retries with
 * backoff that hold only the failing event's key, dead-lettering, idempotency, keep-alive of leased
 * deliveries, back-pressure and a close that hands back everything that has not started. Decoding is given
 * by the caller (`prepare`), so event and dead-letter subscriptions share this one loop.
 */
export interface ConsumerSettings<P> {
  transport: Transport;
  topic: string;
  group: string;
  concurrency: number;
  prefetch: number;
  maxAttempts: number;
  backoff: BackoffOptions;
  deadLetterTopic: string | undefined;
  idempotency: { store: IdempotencyStore; leaseMs: number; ttlMs: number } | undefined;
  /** Turns a delivery into what the handler gets; throwing dead-letters the delivery at once. */
  prepare(delivery: Delivery): { value: P; id: string | undefined };
  run(prepared: P, delivery: Delivery, attempt: number): Promise<void>;
  /** The bus's middleware; read per run (no middleware, or none enabled for the run: no overhead). */
  hooks: Hooks;
  onError(error: Error): void;
}

type Outcome = 'ran' | 'failed' | 'hand-back';

export class Consumer<P> {
  readonly #settings: ConsumerSettings<P>;
  readonly #scheduler: KeyedScheduler;
  readonly #leases: LeaseKeeper;
  readonly #pending = new Set<Promise<void>>();
  readonly #sleeps = new Set<{ cancel(): void }>();
  #capacityWaiters: (() => void)[] = [];
  #transportSubscription: TransportSubscription | undefined;
  #closing = false;
  /** close() stopped waiting: unsettled deliveries now belong to the broker again. */
  #abandoned = false;
  #closed: Promise<void> | undefined;
  #lastError: { message: string; at: Date } | undefined;

  constructor(settings: ConsumerSettings<P>) {
    this.#settings = settings;
    this.#scheduler = new KeyedScheduler(settings.concurrency);
    this.#leases = new LeaseKeeper(settings.transport.capabilities.deliveryLeaseMs, settings.onError);
  }

  get topic(): string {
    return this.#settings.topic;
  }

  get group(): string {
    return this.#settings.group;
  }

  /** Handlers running right now. */
  get inFlight(): number {
    return this.#scheduler.running;
  }

  async start(): Promise<void> {
    const { transport, topic, group, prefetch } = this.#settings;
    this.#transportSubscription = await transport.subscribe({
      topic,
      group,
      maxInFlight: prefetch,
      onDelivery: (delivery) => this.#accept(delivery),
      onError: (error) => {
        this.#lastError = { message: error.message, at: new Date() };
        this.#settings.onError(error);
      },
    });
  }

  /** For `bus.health()`: what this subscription is doing, from counters it keeps anyway. */
  health(): SubscriptionHealth {
    const health: SubscriptionHealth = {
      topic: this.#settings.topic,
      group: this.#settings.group,
      state: this.#closing ? 'closing' : 'running',
      inFlight: this.#scheduler.running,
      held: this.#pending.size,
    };
    if (this.#lastError) health.lastError = { ...this.#lastError };
    return health;
  }

  #accept(delivery: Delivery): Promise<void> {
    if (this.#closing) {
      void delivery.release().catch((error) => this.#settings.onError(error));
      return Promise.resolve();
    }
    this.#leases.hold(delivery);
    const work = this.#scheduler
      .schedule(delivery.key, (slots) => this.#process(delivery, slots))
      .catch((error) => this.#settings.onError(error));
    this.#pending.add(work);
    void work.then(() => {
      this.#leases.drop(delivery);
      this.#pending.delete(work);
      this.#capacityWaiters.shift()?.();
    });
    if (this.#pending.size < this.#settings.prefetch) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  /**
   * Must this delivery go back instead of starting? After close(), when its partition is moving to another
   * instance, or when its lease was lost. Checked right before every start, after every wait.
   */
  #mustHandBack(delivery: Delivery): boolean {
    return this.#closing || delivery.revoked === true || this.#leases.lost(delivery);
  }

  async #process(delivery: Delivery, slots: SlotControl): Promise<void> {
    const s = this.#settings;
    if (this.#mustHandBack(delivery)) return delivery.release();
    let prepared: { value: P; id: string | undefined };
    try {
      prepared = s.prepare(delivery);
    } catch (error) {
      return this.#deadLetter(delivery, 'undecodable', error, 0);
    }
    const leaseKey = prepared.id !== undefined && s.idempotency ? `${s.group}:${prepared.id}` : undefined;
    let attempt = Math.max(1, delivery.deliveryCount ?? 1);
    for (;;) {
      const { outcome, failure } = await this.#attempt(delivery, prepared, attempt, leaseKey, slots);
      if (outcome === 'hand-back') return delivery.release();
      if (outcome === 'ran') {
        // Finished after close() gave up on it: the broker redelivers it; idempotency absorbs the repeat.
        if (this.#abandoned) return;
        // The lease ran out under it: the broker may have given the event to another consumer already.
        if (this.#leases.lost(delivery)) return delivery.release();
        return delivery.ack();
      }
      if (attempt >= s.maxAttempts) return this.#deadLetter(delivery, 'max-attempts', failure, attempt);
      attempt++;
      if (!(await this.#sleep(backoffDelay(attempt, s.backoff)))) return delivery.release();
    }
  }

  /** One attempt: take a slot, claim the idempotency lease, run the handler, record success. */
  async #attempt(
    delivery: Delivery,
    prepared: { value: P; id: string | undefined },
    attempt: number,
    leaseKey: string | undefined,
    slots: SlotControl,
  ): Promise<{ outcome: Outcome; failure?: unknown }> {
    const s = this.#settings;
    let storeFailures = 0;
    for (;;) {
      if (this.#mustHandBack(delivery)) return { outcome: 'hand-back' };
      await slots.acquire();
      // close() or a revocation may have come while this waited for a slot: nothing starts after them.
      if (this.#mustHandBack(delivery)) {
        slots.release();
        return { outcome: 'hand-back' };
      }
      if (leaseKey) {
        const claim = await this.#store('claim', () =>
          s.idempotency!.store.claim(leaseKey, s.idempotency!.leaseMs),
        );
        if (claim === 'completed') {
          slots.release();
          const handle = s.hooks.handle;
          if (handle && s.hooks.handling()) await this.#skipDuplicate(handle, delivery, prepared.id, attempt);
          return { outcome: 'ran' };
        }
        if (claim !== 'claimed') {
          // A duplicate runs elsewhere ('busy'): poll at the first retry's pace. The store is unreachable:
          // back off further each time. Either way no attempt is spent.
          slots.release();
          if (claim === 'failed') storeFailures++;
          const wait = backoffDelay(2 + Math.min(storeFailures, 8), s.backoff);
          if (!(await this.#sleep(wait))) return { outcome: 'hand-back' };
          continue;
        }
        if (this.#mustHandBack(delivery)) {
          slots.release();
          await this.#store('release', () => s.idempotency!.store.release(leaseKey));
          return { outcome: 'hand-back' };
        }
      }
      try {
        const handle = s.hooks.handle;
        if (handle && s.hooks.handling()) {
          const context = this.#handleContext(delivery, prepared.id, attempt);
          await handle(context, async () => {
            try {
              await s.run(prepared.value, delivery, attempt);
              context.outcome = 'ack';
            } catch (error) {
              failed(context, error);
              throw error;
            }
          });
        } else await s.run(prepared.value, delivery, attempt);
      } catch (error) {
        slots.release();
        if (leaseKey) await this.#store('release', () => s.idempotency!.store.release(leaseKey));
        return { outcome: 'failed', failure: error };
      }
      slots.release();
      if (leaseKey && !(await this.#recordCompletion(leaseKey))) return { outcome: 'hand-back' };
      return { outcome: 'ran' };
    }
  }

  #handleContext(delivery: Delivery, id: string | undefined, attempt: number): HandleContext {
    const s = this.#settings;
    return {
      transport: s.transport.name,
      topic: s.topic,
      group: s.group,
      id,
      key: delivery.key,
      attempt,
      maxAttempts: s.maxAttempts,
      headers: delivery.headers,
      outcome: undefined,
      error: undefined,
    };
  }

  /** Middleware sees a duplicate the idempotency store absorbed as a run that did not happen. */
  async #skipDuplicate(
    handle: NonNullable<Hooks['handle']>,
    delivery: Delivery,
    id: string | undefined,
    attempt: number,
  ): Promise<void> {
    const context = this.#handleContext(delivery, id, attempt);
    try {
      await handle(context, async () => {
        context.outcome = 'duplicate-skipped';
      });
    } catch (error) {
      // The event was processed already; a middleware failing on the skip must not run it again.
      this.#settings.onError(error as Error);
    }
  }

  /**
   * Records success in the idempotency store, retrying while the store is unreachable (acking without the
   * record would let a later duplicate run again). False if close() came first: the event is handed back.
   */
  async #recordCompletion(leaseKey: string): Promise<boolean> {
    const { store, ttlMs } = this.#settings.idempotency!;
    for (let retry = 2; ; retry++) {
      if ((await this.#store('complete', () => store.complete(leaseKey, ttlMs))) !== 'failed') return true;
      if (!(await this.#sleep(backoffDelay(retry, this.#settings.backoff)))) return false;
    }
  }

  /** Calls the idempotency store; a failure is reported and returned as `'failed'`, never thrown. */
  async #store<T>(what: string, call: () => Promise<T>): Promise<T | 'failed'> {
    try {
      return await call();
    } catch (error) {
      this.#settings.onError(
        new SubscriptionError(
          'IDEMPOTENCY_STORE',
          `idempotency store ${what} failed on ${this.#settings.topic}: ${(error as Error).message} — the event waits and is tried again`,
          { cause: error },
        ),
      );
      return 'failed';
    }
  }

  /** Publishes the original bytes and headers, plus why, to the dead-letter topic; then acks. Never drops. */
  async #deadLetter(delivery: Delivery, reason: string, error: unknown, attempts: number): Promise<void> {
    const s = this.#settings;
    if (!s.deadLetterTopic) {
      // Dead letters of dead letters: nowhere safer to put them, so keep them on their queue and say so.
      s.onError(
        new SubscriptionError(
          'DEAD_LETTER_KEPT',
          `dead-letter handler failed ${attempts} times; event left on ${s.topic} for redelivery`,
        ),
      );
      return delivery.release();
    }
    const message = error instanceof Error ? error.message : String(error);
    const headers = fitDeadLetter(
      delivery.body,
      {
        ...delivery.headers,
        [DEAD_LETTER_HEADERS.reason]: reason,
        [DEAD_LETTER_HEADERS.error]: message.slice(0, 2000),
        [DEAD_LETTER_HEADERS.attempts]: String(attempts),
        [DEAD_LETTER_HEADERS.group]: s.group,
        [DEAD_LETTER_HEADERS.topic]: s.topic,
        [DEAD_LETTER_HEADERS.time]: new Date().toISOString(),
      },
      s.transport.capabilities.maxMessageBytes + DEAD_LETTER_HEADROOM_BYTES,
      delivery.key,
    );
    for (let retry = 2; ; retry++) {
      if (this.#mustHandBack(delivery)) return delivery.release();
      try {
        await s.transport.publish({
          topic: s.deadLetterTopic,
          key: delivery.key,
          body: delivery.body,
          headers,
        });
        return delivery.ack();
      } catch (publishError) {
        s.onError(publishError as Error);
        if (!(await this.#sleep(backoffDelay(retry, s.backoff)))) return delivery.release();
      }
    }
  }

  async #sleep(ms: number): Promise<boolean> {
    const sleep = cancellableSleep(ms);
    this.#sleeps.add(sleep);
    const completed = await sleep.done;
    this.#sleeps.delete(sleep);
    return completed && !this.#closing;
  }

  /**
   * Stops intake, lets running handlers finish (acking those that succeed), hands every other held
   * delivery back for redelivery — no handler starts after close() was called — then lets go of the broker
   * consumer. With `timeoutMs`, stops waiting for handlers after that long and leaves their events to the
   * broker. Safe to call twice.
   */
  close(timeoutMs?: number): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      await this.#transportSubscription?.stop();
      for (const sleep of this.#sleeps) sleep.cancel();
      for (const wake of this.#capacityWaiters.splice(0)) wake();
      const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
      while (this.#pending.size > 0 && Date.now() < deadline) {
        const left = deadline - Date.now();
        const sleep = cancellableSleep(Number.isFinite(left) ? left : 2 ** 31 - 1);
        await Promise.race([Promise.allSettled([...this.#pending]), sleep.done]);
        sleep.cancel();
      }
      if (this.#pending.size > 0) {
        this.#abandoned = true;
        this.#settings.onError(
          new SubscriptionError(
            'CLOSE_TIMEOUT',
            `close() stopped waiting after ${timeoutMs} ms: ${this.#pending.size} event(s) on ${this.#settings.topic} left to the broker for redelivery`,
          ),
        );
      }
      this.#leases.stop();
      const letGo = this.#transportSubscription?.close();
      if (letGo && Number.isFinite(deadline) && !(await settlesWithin(letGo, deadline - Date.now()))) {
        // Inside a grace period: the consumer lets go in the background; what it holds the broker redelivers.
        letGo.catch(() => {});
        this.#settings.onError(
          new SubscriptionError(
            'CLOSE_TIMEOUT',
            `close() stopped waiting after ${timeoutMs} ms for the consumer of ${this.#settings.topic} to let go; the broker redelivers what it held`,
          ),
        );
        return;
      }
      await letGo;
    })();
    return this.#closed;
  }
}
