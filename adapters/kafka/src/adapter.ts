import {
  type Capabilities,
  ClosedError,
  DEAD_LETTER_HEADROOM_BYTES,
  encodedSize,
  MessageTooLargeError,
  type OutgoingMessage,
  type SubscribeRequest,
  type Transport,
  type TransportFactory,
  type TransportSubscription,
} from '@omnibus/core';
import type { Admin, Kafka, Producer, SASLOptions } from 'kafkajs';
import { createLogCreator, toBrokerError } from './errors.ts';
import { type KafkaOptions, parseKafkaUrl } from './options.ts';
import { PublishBatcher, sendBatch } from './publish.ts';
import { KafkaSubscription } from './subscribe.ts';

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

/** What `createBus` calls for `kafka://` URLs. */
export const createTransport: TransportFactory = (url, text) =>
  new KafkaTransport(parseKafkaUrl(text ?? url));

/** For settings a URL cannot carry (TLS certificates): `createBus({ transport: createKafkaTransport(url, { ssl: { ca } }) })`. */
export function createKafkaTransport(
  url: string | URL,
  overrides: Partial<KafkaOptions> = {},
): KafkaTransport {
  return new KafkaTransport(parseKafkaUrl(url, overrides));
}

/** One kafkajs client: an idempotent producer with coalesced sends, an admin for topics, a consumer per subscription. */
export class KafkaTransport implements Transport {
  readonly name = KAFKA;
  readonly capabilities = KAFKA_CAPABILITIES;
  readonly options: KafkaOptions;
  readonly #batcher: PublishBatcher;
  readonly #topics = new Map<string, Promise<void>>();
  readonly #subscriptions = new Set<KafkaSubscription>();
  #kafka: Kafka | undefined;
  #producer: Producer | undefined;
  #admin: Admin | undefined;
  #connecting: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: KafkaOptions) {
    this.options = options;
    this.#batcher = new PublishBatcher((messages) => this.#send(messages), options);
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

  async #connect(): Promise<void> {
    const o = this.options;
    const { Kafka, Partitioners } = (await import('kafkajs')).default;
    const kafka = new Kafka({
      clientId: o.clientId,
      brokers: o.brokers,
      ssl: o.ssl,
      ...(o.sasl ? { sasl: { ...o.sasl } as SASLOptions } : {}),
      connectionTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 6 },
      logCreator: createLogCreator(o),
    });
    // The Java client's default partitioner (murmur2 of the key): a key lands where Java would put it.
    const producer = kafka.producer({
      idempotent: true,
      // Bounded (~40 s, enough for a broker restart) so that a publish to a dead broker fails with a
      // BrokerError instead of hanging; kafkajs would retry forever by default.
      retry: { initialRetryTime: 100, maxRetryTime: 3_000, retries: 15 },
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
      await producer.connect();
    } catch (error) {
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
      throw toBrokerError(error, 'connecting', o);
    }
    this.#kafka = kafka;
    this.#producer = producer;
    this.#admin = admin;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    if (this.#closed) throw new ClosedError('kafka transport');
    // Body + headers, as the core measures; events stop at KAFKA_MAX_MESSAGE_BYTES (the bus checks), dead
    // letters may use the headroom. The key and record framing fit in what is left of message.max.bytes.
    const size = encodedSize(message.body, message.headers);
    const limit = KAFKA_MAX_MESSAGE_BYTES + DEAD_LETTER_HEADROOM_BYTES;
    if (size > limit) throw new MessageTooLargeError(message.headers.ce_type ?? 'raw', size, limit, KAFKA);
    await this.connect();
    // Batches are sized with Kafka's per-record framing (varints) so one partition's record batch stays
    // under the broker's message.max.bytes even when it holds thousands of small events.
    const framing =
      32 + 6 * Object.keys(message.headers).length + (message.key ? Buffer.byteLength(message.key) : 0);
    return this.#batcher.publish(message, size + framing);
  }

  async #send(messages: OutgoingMessage[]): Promise<void> {
    try {
      await Promise.all([...new Set(messages.map((m) => m.topic))].map((topic) => this.#ensureTopic(topic)));
      await sendBatch(this.#producer!, messages, this.options.requestTimeoutMs);
    } catch (error) {
      throw toBrokerError(
        error,
        `publishing ${messages.length} message(s) to ${[...new Set(messages.map((m) => m.topic))].join(', ')}`,
        this.options,
      );
    }
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
      await this.#ensureTopic(topic);
      // With fromBeginning a new group starts at the earliest offset anyway; otherwise pin it to the
      // current end now, so events published from here on are kept for it.
      if (!this.options.fromBeginning) for (const group of groups) await this.#pinNewGroup(topic, group);
    } catch (error) {
      throw toBrokerError(error, `provisioning ${topic}`, this.options);
    }
  }

  /**
   * Deletes the topic and its events (tests and tooling). Kafka drops the groups' offsets for a deleted
   * topic itself; the groups may read other topics, so they are left alone.
   */
  async deleteTopic(topic: string, _groups: string[]): Promise<void> {
    if (this.#closed) throw new ClosedError('kafka transport');
    await this.connect();
    try {
      await this.#admin!.deleteTopics({ topics: [topic] });
      this.#topics.delete(topic);
    } catch (error) {
      // Already gone is done (kafkajs reports it after its retries, as the cause).
      const e = error as { type?: string; cause?: { type?: string } };
      const unknownTopic =
        e.type === 'UNKNOWN_TOPIC_OR_PARTITION' || e.cause?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
      if (!unknownTopic) throw toBrokerError(error, `deleting ${topic}`, this.options);
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

  async subscribe(request: SubscribeRequest): Promise<TransportSubscription> {
    if (this.#closed) throw new ClosedError('kafka transport');
    await this.connect();
    try {
      await this.#ensureTopic(request.topic);
    } catch (error) {
      throw toBrokerError(error, `creating topic ${request.topic}`, this.options);
    }
    const subscription = new KafkaSubscription(this.#kafka!, this.options, request);
    await subscription.start();
    this.#subscriptions.add(subscription);
    const close = subscription.close.bind(subscription);
    return {
      stop: () => subscription.stop(),
      close: async () => {
        await close();
        this.#subscriptions.delete(subscription);
      },
    };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#batcher.flush();
      await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
      await Promise.allSettled([this.#producer?.disconnect(), this.#admin?.disconnect()]);
    })();
    return this.#closed;
  }
}
