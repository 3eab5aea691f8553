import {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_HEADROOM_BYTES,
  encodedSize,
  WRITER_SCHEMA_HEADER,
} from './envelope.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { KeyedScheduler } from './keyed-scheduler.ts';
import { type BackoffOptions, backoffDelay, cancellableSleep } from './retry.ts';
import type { Delivery, Transport, TransportSubscription } from './transport.ts';

/**
 * The consume loop shared by every adapter: per-key ordering with bounded concurrency, retries with
 * backoff that hold only the failing event's key, dead-lettering, idempotency, back-pressure and a
 * graceful close. Decoding is given by the caller (`prepare`), so event and dead-letter subscriptions
 * share this one loop.
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
  onError(error: Error): void;
}

export class Consumer<P> {
  readonly #settings: ConsumerSettings<P>;
  readonly #scheduler: KeyedScheduler;
  readonly #pending = new Set<Promise<void>>();
  readonly #sleeps = new Set<{ cancel(): void }>();
  #capacityWaiters: (() => void)[] = [];
  #transportSubscription: TransportSubscription | undefined;
  #closing = false;
  /** close() stopped waiting: unsettled deliveries now belong to the broker again. */
  #abandoned = false;
  #closed: Promise<void> | undefined;

  constructor(settings: ConsumerSettings<P>) {
    this.#settings = settings;
    this.#scheduler = new KeyedScheduler(settings.concurrency);
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
      onError: (error) => this.#settings.onError(error),
    });
  }

  #accept(delivery: Delivery): Promise<void> {
    if (this.#closing) {
      void delivery.release().catch((error) => this.#settings.onError(error));
      return Promise.resolve();
    }
    const work = this.#scheduler
      .schedule(delivery.key, (slots) => this.#process(delivery, slots))
      .catch((error) => this.#settings.onError(error));
    this.#pending.add(work);
    void work.then(() => {
      this.#pending.delete(work);
      this.#capacityWaiters.shift()?.();
    });
    if (this.#pending.size < this.#settings.prefetch) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  async #process(delivery: Delivery, slots: { acquire(): Promise<void>; release(): void }): Promise<void> {
    const s = this.#settings;
    if (this.#closing) return delivery.release();
    let prepared: { value: P; id: string | undefined };
    try {
      prepared = s.prepare(delivery);
    } catch (error) {
      return this.#deadLetter(delivery, 'undecodable', error, 0);
    }
    const leaseKey = prepared.id !== undefined && s.idempotency ? `${s.group}:${prepared.id}` : undefined;
    let attempt = Math.max(1, delivery.deliveryCount ?? 1);
    for (;;) {
      if (this.#closing) return delivery.release();
      if (leaseKey && s.idempotency) {
        const claim = await s.idempotency.store.claim(leaseKey, s.idempotency.leaseMs);
        if (claim === 'completed') return delivery.ack();
        if (claim === 'busy') {
          // A duplicate is running elsewhere: wait for it without spending an attempt.
          if (!(await this.#sleep(backoffDelay(2, s.backoff)))) return delivery.release();
          continue;
        }
      }
      await slots.acquire();
      let failure: unknown;
      let succeeded = false;
      try {
        await s.run(prepared.value, delivery, attempt);
        succeeded = true;
      } catch (error) {
        failure = error;
      } finally {
        slots.release();
      }
      if (succeeded) {
        if (leaseKey && s.idempotency) await s.idempotency.store.complete(leaseKey, s.idempotency.ttlMs);
        // Finished after close() gave up on it: the broker redelivers it; idempotency absorbs the repeat.
        if (this.#abandoned) return;
        return delivery.ack();
      }
      if (leaseKey && s.idempotency) await s.idempotency.store.release(leaseKey);
      if (attempt >= s.maxAttempts) return this.#deadLetter(delivery, 'max-attempts', failure, attempt);
      attempt++;
      if (!(await this.#sleep(backoffDelay(attempt, s.backoff)))) return delivery.release();
    }
  }

  /** Publishes the original bytes and headers, plus why, to the dead-letter topic; then acks. Never drops. */
  async #deadLetter(delivery: Delivery, reason: string, error: unknown, attempts: number): Promise<void> {
    const s = this.#settings;
    if (!s.deadLetterTopic) {
      // Dead letters of dead letters: nowhere safer to put them, so keep them on their queue and say so.
      s.onError(
        new Error(`dead-letter handler failed ${attempts} times; event left on ${s.topic} for redelivery`),
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
    );
    for (let retry = 2; ; retry++) {
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
   * delivery back for redelivery, then lets go of the broker consumer. With `timeoutMs`, stops waiting
   * for handlers after that long and leaves their events to the broker. Safe to call twice.
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
          new Error(
            `[omnibus] close() stopped waiting after ${timeoutMs} ms: ${this.#pending.size} event(s) on ${this.#settings.topic} left to the broker for redelivery`,
          ),
        );
      }
      await this.#transportSubscription?.close();
    })();
    return this.#closed;
  }
}

/**
 * Transports accept dead letters up to `DEAD_LETTER_HEADROOM_BYTES` above the event limit. Should the
 * headers still not fit (a long non-ASCII error), a dead letter that can never be published would block its
 * key for good, so the copy is fitted: first the embedded
 * writer schema goes (the fingerprint stays, so the contract still decodes the body), then the error text
 * is shortened, then the optional time and error headers go. Body and original headers stay intact.
 */
function fitDeadLetter(
  body: Uint8Array,
  headers: Record<string, string>,
  limit: number,
): Record<string, string> {
  const fitted = { ...headers };
  const over = () => encodedSize(body, fitted) - limit;
  if (over() > 0) delete fitted[WRITER_SCHEMA_HEADER];
  const error = fitted[DEAD_LETTER_HEADERS.error] ?? '';
  if (over() > 0 && error.length > 0) {
    const keep = Math.max(0, Buffer.byteLength(error) - over() - 3);
    fitted[DEAD_LETTER_HEADERS.error] = `${Buffer.from(error)
      .subarray(0, keep)
      .toString()
      .replace(/\uFFFD$/, '')}…`;
  }
  if (over() > 0) delete fitted[DEAD_LETTER_HEADERS.time];
  if (over() > 0) delete fitted[DEAD_LETTER_HEADERS.error];
  return fitted;
}
