import {
  assertPublishable,
  BrokerError,
  type Capabilities,
  ClosedError,
  type Logger,
  type OutgoingMessage,
  type SubscribeRequest,
  silentLogger,
  type Transport,
  type TransportFactory,
  type TransportHealth,
  type TransportOptions,
  type TransportSubscription,
} from '@omnibus/core';
import type { Admin, Kafka, SASLOptions } from 'kafkajs';
import { createLogCreator, kafkaErrorTypes, toBrokerError } from './errors.ts';
import { KafkaHealth } from './health.ts';
import { describeBrokers, type KafkaOptions, parseKafkaUrl } from './options.ts';
import { KafkajsProducer, kafkajsRetriable, type ProducerClient } from './producer.ts';
import { PlatformaticProducer } from './producer-platformatic.ts';
import { PublishBatcher } from './publish.ts';
import { KafkaSubscription } from './subscribe.ts';
import { avoidNegativeTimeouts } from './timeouts.ts';

/** Short adapter name used in errors and reports. */
export const KAFKA = 'kafka';

/**
 * Largest event (body + header names and values) the adapter accepts. The broker's default
 * `message.max.bytes` is 1048588 per record batch; this leaves ~48 KiB for the key, record and batch framing.
 */
export const KAFKA_MAX_MESSAGE_BYTES = 1_000_000;

/** Everything Kafka promises: consumer groups, fan-out across groups, per-key order, retention, crash redelivery. */
export const KAFKA_CAPABILITIES: Capabilities = Object.freeze({
  consumerGroups: true,
  fanOut: true,
  orderedByKey: true,
  orderedByKeyAcrossInstances: true,
  persistent: true,
  deadLetter: true,
  crashRedelivery: true,
  maxMessageBytes: KAFKA_MAX_MESSAGE_BYTES,
});

/** One kafkajs client with the adapter's connection, retry and logging settings (kafkajs loaded lazily). */
export async function kafkaClient(o: KafkaOptions, logger?: Logger): Promise<Kafka> {
  const { Kafka } = (await import('kafkajs')).default;
  avoidNegativeTimeouts();
  return new Kafka({
    clientId: o.clientId,
    brokers: o.brokers,
    ssl: o.ssl,
    ...(o.sasl ? { sasl: { ...o.sasl } as SASLOptions } : {}),
    connectionTimeout: o.connectionTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 6 },
    logCreator: createLogCreator(o, logger ?? silentLogger),
  });
}

/**
 * Right after a topic is created, a broker under load may still answer "does not host this topic-partition"
 * (or have no leader yet) for a few seconds after kafkajs's own retries: those answers are retried.
 */
async function whileTopicSettles(operation: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const types = kafkaErrorTypes(error);
      const settling = types.has('UNKNOWN_TOPIC_OR_PARTITION') || types.has('LEADER_NOT_AVAILABLE');
      if (!settling || attempt >= 6) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

/** What the send loop asks of a failure: retry it, recover from it, describe it. */
type Failures = Pick<ProducerClient, 'retriable' | 'recover' | 'toBrokerError'>;

/** What `createBus` calls for `kafka://` URLs; kafkajs logs go to `options.logger`. */
export const createTransport: TransportFactory = (url, text, options) =>
  new KafkaTransport(parseKafkaUrl(text ?? url), options?.logger);

/**
 * For settings a URL cannot carry (TLS certificates):
 * `createBus({ transport: createKafkaTransport(url, { ssl: { ca } }, { logger }) })`.
 */
export function createKafkaTransport(
  url: string | URL,
  overrides: Partial<KafkaOptions> = {},
  options: TransportOptions = {},
): KafkaTransport {
  return new KafkaTransport(parseKafkaUrl(url, overrides), options.logger);
}

/** One kafkajs client: an idempotent producer with coalesced sends, an admin for topics, a consumer per subscription. */
export class KafkaTransport implements Transport {
  readonly name = KAFKA;
  readonly capabilities = KAFKA_CAPABILITIES;
  readonly options: KafkaOptions;
  readonly #logger: Logger;
  readonly #batcher: PublishBatcher;
  readonly #topics = new Map<string, Promise<void>>();
  readonly #subscriptions = new Set<KafkaSubscription>();
  readonly #health = new KafkaHealth();
  #kafka: Kafka | undefined;
  #producer: ProducerClient | undefined;
  #admin: Admin | undefined;
  #connecting: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  /** Why the last produce attempt failed, until one succeeds: the cause of a publish that times out. */
  #sendError: { error: unknown; client: Failures } | undefined;

  constructor(options: KafkaOptions, logger: Logger = silentLogger) {
    this.options = options;
    this.#logger = logger;
    this.#batcher = new PublishBatcher(
      (messages, deadline) => this.#send(messages, deadline),
      options,
      (message, sent) => this.#timedOut(message, sent),
    );
  }

  /** Produce requests sent so far; each carries one or more coalesced publishes. */
  get produceRequests(): number {
    return this.#batcher.requests;
  }

  connect(): Promise<void> {
    this.#connecting ??= this.#connect().catch((error) => {
      this.#connecting = undefined;
      throw error;
    });
    return this.#connecting;
  }

  /**
   * The connection as kafkajs's events and the last requests tell it, without a request of its own (see
   * {@link KafkaHealth}): `up`, `connecting` with the last failure (a request timed out, a publish failed, a
   * consumer crashed and has not rejoined its group), `down` when `connect()` failed or once closed.
   */
  health(): TransportHealth {
    return this.#health.health();
  }

  async #connect(): Promise<void> {
    const o = this.options;
    const kafka = await kafkaClient(o, this.#logger);
    const producer =
      o.producer === 'platformatic'
        ? new PlatformaticProducer(o, this.#health)
        : new KafkajsProducer(kafka, o, this.#health);
    const admin = kafka.admin();
    this.#health.watchAdmin(admin);
    // Admin errors are kafkajs's; the producer describes its own.
    let failure: BrokerError | undefined;
    await admin.connect().catch((error: unknown) => {
      failure = toBrokerError(error, 'connecting', o);
    });
    if (!failure)
      await producer.connect().catch((error: unknown) => {
        failure = producer.toBrokerError(error, 'connecting');
      });
    if (failure) {
      await Promise.allSettled([producer.close(), admin.disconnect()]);
      this.#health.connectFailed(failure.message);
      throw failure;
    }
    this.#health.connected();
    this.#kafka = kafka;
    this.#producer = producer;
    this.#admin = admin;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    if (this.#closed) throw new ClosedError('kafka transport');
    // Body + headers, as the core measures; events stop at KAFKA_MAX_MESSAGE_BYTES (the bus checks), dead
    // letters may use the headroom. The key and record framing fit in what is left of message.max.bytes.
    const size = assertPublishable(message, this.capabilities, KAFKA);
    await this.connect();
    // Batches are sized with Kafka's per-record framing (varints) so one partition's record batch stays
    // under the broker's message.max.bytes even when it holds thousands of small events.
    const framing =
      32 + 6 * Object.keys(message.headers).length + (message.key ? Buffer.byteLength(message.key) : 0);
    return this.#batcher.publish(message, size + framing);
  }

  /**
   * Sends one batch; while the broker cannot take it (unreachable, restarting, electing a leader) tries
   * again with backoff until `deadline`. The idempotent producer keeps its sequence numbers across the
   * attempts, so a batch the broker stored without the answer reaching us is not stored twice.
   */
  async #send(messages: OutgoingMessage[], deadline: number): Promise<void> {
    const topics = [...new Set(messages.map((m) => m.topic))];
    const producer = this.#producer!;
    for (let attempt = 1; ; attempt++) {
      // Topic creation goes through the kafkajs admin, whose errors kafkajs classifies.
      let client: Failures = this.#adminFailures;
      try {
        await Promise.all(topics.map((topic) => this.#ensureTopic(topic)));
        client = producer;
        await producer.send(messages);
        this.#sendError = undefined;
        this.#health.succeeded();
        return;
      } catch (error) {
        this.#sendError = { error, client };
        let again = client.retriable(error);
        // A refusal (a message too large, a missing authorization) says nothing about the connection.
        if (again)
          this.#health.failed(client.toBrokerError(error, `publishing to ${topics.join(', ')}`).message);
        again = (await client.recover(error)) ?? again;
        const backoff = Math.min(2_000, 100 * 2 ** attempt);
        if (!again || Date.now() + backoff >= deadline) {
          throw client.toBrokerError(
            error,
            `publishing ${messages.length} message(s) to ${topics.join(', ')}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }

  /** How the send loop reads a failure of the kafkajs admin (creating a topic). */
  readonly #adminFailures: Failures = {
    retriable: kafkajsRetriable,
    recover: async () => undefined,
    toBrokerError: (error, action) => toBrokerError(error, action, this.options),
  };

  /** The error of a publish the broker has not stored within publishTimeoutMs, with the last attempt's cause. */
  #timedOut(message: OutgoingMessage, sent: boolean): BrokerError {
    const what = `a publish to ${message.topic} was not stored within publishTimeoutMs (${this.options.publishTimeoutMs} ms)${sent ? '; it may still be stored' : '; nothing was sent'}`;
    if (this.#sendError) return this.#sendError.client.toBrokerError(this.#sendError.error, what);
    return new BrokerError(
      `[omnibus] [kafka] ${what} on ${describeBrokers(this.options)} — the broker did not answer in time; is the broker running?`,
    );
  }

  /** Creates the topic with `partitions` partitions unless it exists. Memoized per transport. */
  #ensureTopic(topic: string): Promise<void> {
    let created = this.#topics.get(topic);
    if (!created) {
      created = this.#admin!.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: this.options.partitions,
            replicationFactor: this.options.replicationFactor,
          },
        ],
      }).then(
        () => {},
        (error) => {
          this.#topics.delete(topic);
          throw error;
        },
      );
      this.#topics.set(topic, created);
    }
    return created;
  }

  async provision(topic: string, groups: string[]): Promise<void> {
    if (this.#closed) throw new ClosedError('kafka transport');
    await this.connect();
    try {
      await whileTopicSettles(async () => {
        await this.#ensureTopic(topic);
        // With fromBeginning a new group starts at the earliest offset anyway; otherwise pin it to the
        // current end now, so events published from here on are kept for it.
        if (!this.options.fromBeginning) for (const group of groups) await this.#pinNewGroup(topic, group);
      });
    } catch (error) {
      throw toBrokerError(error, `provisioning ${topic}`, this.options);
    }
  }

  async #pinNewGroup(topic: string, groupId: string): Promise<void> {
    const admin = this.#admin!;
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    if (committed?.partitions.some((p) => Number(p.offset) >= 0)) return;
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })),
    });
  }

  /**
   * Sum over the topic's partitions of its end offset (high watermark) minus the group's committed offset:
   * the events the group has not committed. An ack counts once it is committed (every `commitIntervalMs`,
   * 100 ms by default); deliveries handed out and not acked count. A partition without a committed offset
   * counts from where the group would start: the low watermark with `fromBeginning` (the default), its end
   * otherwise; a committed offset below the low watermark (retention deleted events) counts from there too.
   * Exact for the offsets, two admin round trips (ListOffsets, OffsetFetch). `undefined` when the topic
   * does not exist. Kafka cannot tell a group that never consumed from one that does not exist: both count
   * from their start.
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#closed) throw new ClosedError('kafka transport');
    await this.connect();
    const admin = this.#admin!;
    try {
      const [ends, committed] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: group, topics: [topic] }),
      ]);
      const positions = new Map(
        (committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [
          p.partition,
          Number(p.offset),
        ]),
      );
      let lag = 0;
      for (const { partition, high, low } of ends) {
        const end = Number(high);
        const earliest = Number(low);
        const position = positions.get(partition) ?? -1;
        const from =
          position < 0 ? (this.options.fromBeginning ? earliest : end) : Math.max(position, earliest);
        lag += Math.max(0, end - from);
      }
      return lag;
    } catch (error) {
      if (kafkaErrorTypes(error).has('UNKNOWN_TOPIC_OR_PARTITION')) return undefined;
      throw toBrokerError(error, `reading the lag of group ${group} on ${topic}`, this.options);
    }
  }

  async subscribe(request: SubscribeRequest): Promise<TransportSubscription> {
    if (this.#closed) throw new ClosedError('kafka transport');
    await this.connect();
    try {
      await whileTopicSettles(() => this.#ensureTopic(request.topic));
    } catch (error) {
      throw toBrokerError(error, `creating topic ${request.topic}`, this.options);
    }
    const subscription = new KafkaSubscription(
      this.#kafka!,
      this.options,
      request,
      this.#logger,
      this.#health,
    );
    try {
      await subscription.start();
    } catch (error) {
      this.#health.forget(subscription);
      throw error;
    }
    this.#subscriptions.add(subscription);
    const close = subscription.close.bind(subscription);
    return {
      stop: () => subscription.stop(),
      close: async () => {
        await close();
        this.#subscriptions.delete(subscription);
        this.#health.forget(subscription);
      },
    };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#health.close();
      await this.#batcher.flush();
      await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
      await Promise.allSettled([this.#producer?.close(), this.#admin?.disconnect()]);
    })();
    return this.#closed;
  }
}
