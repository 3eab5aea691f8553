import type { TransportHealth } from '@omnibus/core';
import type { Admin, Consumer, Producer } from 'kafkajs';

/**
 * What the Kafka transport knows about its connection, from kafkajs's instrumentation events and the
 * outcome of the adapter's own requests — kafkajs has no connection state of its own to ask, and
 * `health()` sends nothing to the broker (it answers liveness and readiness probes).
 *
 * - `connecting` before `connect()` resolves; `down` with the reason when it failed, or once closed.
 * - `up` once the producer and admin are connected (their `connect` events), as long as the last request
 *   outcome was a success: every answered request (`request` events of the producer, admin and each
 *   consumer) counts as one.
 * - `connecting` with the reason after a failure newer than the last answered request: a request timeout
 *   (`request_timeout`), a publish attempt that failed (the broker unreachable, a leader moving), or the
 *   producer or admin disconnected while the transport is open. kafkajs reconnects at its next request;
 *   the next answered request makes it `up` again.
 * - `connecting` while a consumer has crashed (`crash`, with kafkajs restarting it or the subscription
 *   replacing it) and has not rejoined its group (`group_join`) yet: the detail names the subscription and
 *   the crash's error. Its events wait meanwhile.
 *
 * A transport with no subscription and no publishes sends no requests, so it notices a broker gone only
 * at its next publish; a subscribed one notices within a fetch or heartbeat.
 */
export class KafkaHealth {
  /** Set by the transport: before `connect()`, after it failed, once it resolved, once closed. */
  #stage: { is: 'idle' | 'connected' | 'closed' } | { is: 'failed'; reason: string } = { is: 'idle' };
  /** Producers and admins connected right now (a replaced producer disconnects after its successor connected). */
  readonly #clients = new Map<object, 'producer' | 'admin'>();
  /** Orders answers and failures (two may fall in the same millisecond). */
  #sequence = 0;
  #lastAnswer = 0;
  #failure: { reason: string; sequence: number } | undefined;
  /** Consumers that crashed and have not rejoined, by subscription: the crash's reason. */
  readonly #crashed = new Map<object, string>();

  /** A producer of the transport (watched again when the transport replaces it). */
  watchProducer(producer: Producer): void {
    this.#watchClient(producer, 'producer');
  }

  /**
   * A producer without kafkajs's events (`@platformatic/kafka`): connected from `connect()` until closed;
   * between them, failures and answers come from the transport's own publish attempts.
   */
  producerConnected(producer: object): void {
    this.#clients.set(producer, 'producer');
  }

  producerClosed(producer: object): void {
    this.#clients.delete(producer);
  }

  watchAdmin(admin: Admin): void {
    this.#watchClient(admin, 'admin');
  }

  /**
   * A consumer of `subscription`; `current()` is false once the subscription replaced it. `describe`
   * turns the crash's error into a reason naming the subscription, without credentials.
   */
  watchConsumer(
    consumer: Consumer,
    subscription: object,
    current: () => boolean,
    describe: (error: Error) => string,
  ): void {
    const { events } = consumer;
    consumer.on(events.REQUEST, () => this.#answered());
    consumer.on(events.REQUEST_TIMEOUT, ({ payload }) => {
      if (current()) this.failed(`request ${payload.apiName} to ${payload.broker} timed out`);
    });
    consumer.on(events.CRASH, ({ payload }) => {
      if (current()) this.#crashed.set(subscription, describe(payload.error));
    });
    consumer.on(events.GROUP_JOIN, () => {
      if (current()) this.#crashed.delete(subscription);
    });
  }

  /** The subscription is closed: its consumer's state no longer counts. */
  forget(subscription: object): void {
    this.#crashed.delete(subscription);
  }

  /** `connect()` resolved. */
  connected(): void {
    if (this.#stage.is !== 'closed') this.#stage = { is: 'connected' };
  }

  /** `connect()` failed (`reason` free of credentials); the transport holds no connection. */
  connectFailed(reason: string): void {
    if (this.#stage.is !== 'closed') this.#stage = { is: 'failed', reason };
  }

  /** A request failed (`reason` free of credentials). */
  failed(reason: string): void {
    this.#failure = { reason, sequence: ++this.#sequence };
  }

  /** A request of the adapter's own succeeded (a publish, say): as good as an answered request. */
  succeeded(): void {
    this.#answered();
  }

  close(): void {
    this.#stage = { is: 'closed' };
  }

  health(): TransportHealth {
    const stage = this.#stage;
    if (stage.is === 'closed') return { connection: 'down', detail: 'closed' };
    if (stage.is === 'failed') return { connection: 'down', detail: stage.reason };
    if (stage.is === 'idle') return { connection: 'connecting', detail: 'connecting' };
    const [crash] = this.#crashed.values();
    if (crash !== undefined) return { connection: 'connecting', detail: crash };
    if (this.#failure && this.#failure.sequence > this.#lastAnswer)
      return { connection: 'connecting', detail: this.#failure.reason };
    const kinds = new Set(this.#clients.values());
    if (!kinds.has('producer') || !kinds.has('admin'))
      return {
        connection: 'connecting',
        detail: `the ${kinds.has('admin') ? 'producer' : 'admin'} is disconnected`,
      };
    return { connection: 'up' };
  }

  #watchClient(client: Producer | Admin, kind: 'producer' | 'admin'): void {
    // Producer and Admin name their events alike (connect, disconnect, request, request_timeout).
    const { events } = client as Producer;
    const on = (client as Producer).on.bind(client) as Producer['on'];
    on(events.CONNECT, () => void this.#clients.set(client, kind));
    on(events.DISCONNECT, () => void this.#clients.delete(client));
    on(events.REQUEST, () => this.#answered());
    on(events.REQUEST_TIMEOUT, ({ payload }) =>
      this.failed(`request ${payload.apiName} to ${payload.broker} timed out`),
    );
  }

  #answered(): void {
    this.#lastAnswer = ++this.#sequence;
  }
}
