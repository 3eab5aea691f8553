import type { OutgoingMessage } from '@omnibus/core';
import kafkajs, {
  type Admin,
  type Consumer,
  type Kafka,
  type KafkaMessage,
  type Message,
  type Producer,
} from 'kafkajs';
import { ArrivalClock, now, perSecond, withTimeout } from './stats.ts';

const { Kafka: KafkaClient, Partitioners, logLevel } = kafkajs;

/**
 * The raw kafkajs side, configured like the omnibus adapter: idempotent producer, acks=-1,
 * maxInFlightRequests=1, Java-compatible default partitioner; consumers with the adapter's session,
 * heartbeat and fetch-wait settings.
 */
export interface RawKafkaSettings {
  /** Messages per `sendBatch` request. */
  batch: number;
  partitions: number;
  timeoutMs: number;
}

export class RawKafka {
  readonly kafka: Kafka;
  readonly producer: Producer;
  readonly admin: Admin;

  private constructor(brokers: string[]) {
    this.kafka = new KafkaClient({
      clientId: 'omnibus-bench-raw',
      brokers,
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 2 },
      logLevel: logLevel.ERROR,
    });
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.admin = this.kafka.admin();
  }

  static async connect(brokers: string[]): Promise<RawKafka> {
    const raw = new RawKafka(brokers);
    try {
      await raw.admin.connect();
      await raw.producer.connect();
    } catch (error) {
      await raw.close();
      throw error;
    }
    return raw;
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }],
    });
  }

  /** `count` copies of `message` in sequential `sendBatch` requests of `batch`; msg/s. */
  async publish(
    topic: string,
    message: OutgoingMessage,
    count: number,
    settings: RawKafkaSettings,
  ): Promise<number> {
    const record: Message = {
      key: message.key ?? null,
      value: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
      headers: message.headers,
    };
    const start = now();
    const run = async () => {
      for (let sent = 0; sent < count; ) {
        const n = Math.min(settings.batch, count - sent);
        const messages: Message[] = new Array(n).fill(record);
        await this.producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1, timeout: 30_000 });
        sent += n;
      }
    };
    await withTimeout(run(), settings.timeoutMs, `raw kafkajs publish to ${topic} timed out`);
    return perSecond(count, now() - start);
  }

  /** A fresh group reads `count` messages with `eachBatch` (auto-resolve, auto-commit); msg/s first→last. */
  async consume(topic: string, group: string, count: number, settings: RawKafkaSettings): Promise<number> {
    const consumer = this.#consumer(group);
    const clock = new ArrivalClock(count);
    try {
      consumer.on(consumer.events.GROUP_JOIN, () => clock.start());
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        eachBatch: async ({ batch, heartbeat }) => {
          let bytes = 0;
          for (const message of batch.messages) bytes += message.value?.length ?? 0;
          if (bytes >= 0) clock.tick(batch.messages.length);
          await heartbeat();
        },
      });
      await withTimeout(
        clock.done,
        settings.timeoutMs,
        `raw kafkajs consumer got ${clock.count} of ${count} messages from ${topic} within ${settings.timeoutMs} ms`,
      );
    } finally {
      await consumer.disconnect().catch(() => {});
    }
    return clock.rate();
  }

  /** `count` messages made by `make(i)` in sequential `sendBatch` requests of `batch` (acks=-1). */
  async sendMany(
    topic: string,
    count: number,
    batch: number,
    make: (index: number) => Message,
  ): Promise<void> {
    for (let sent = 0; sent < count; ) {
      const n = Math.min(batch, count - sent);
      const messages: Message[] = new Array(n);
      for (let i = 0; i < n; i++) messages[i] = make(sent + i);
      await this.producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1, timeout: 30_000 });
      sent += n;
    }
  }

  /**
   * A consumer of a fresh `group` on `topic` from the beginning (`eachBatch`, auto-resolve, auto-commit
   * every `commitIntervalMs`, `partitions` partitions consumed concurrently — as the adapter does — and
   * its session / heartbeat / maxWait settings), calling `onMessage` for every message; resolves once it
   * joined the group, with a stop.
   */
  async startConsumer(
    topic: string,
    group: string,
    tuning: { partitions: number; commitIntervalMs: number },
    onMessage: (message: KafkaMessage) => void,
  ): Promise<() => Promise<void>> {
    const consumer = this.#consumer(group);
    const stop = () => consumer.disconnect().catch(() => {});
    try {
      const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommitInterval: tuning.commitIntervalMs,
        partitionsConsumedConcurrently: Math.min(Math.max(tuning.partitions, 1), 32),
        eachBatch: async ({ batch, heartbeat }) => {
          for (const message of batch.messages) onMessage(message);
          await heartbeat();
        },
      });
      await withTimeout(joined, 60_000, `raw kafkajs consumer of ${topic} did not join ${group} within 60 s`);
    } catch (error) {
      await stop();
      throw error;
    }
    return stop;
  }

  /** Disconnects the producer, then (best effort) deletes what the benchmark created, then the admin. */
  /** A consumer of `group` with the settings every raw run uses. */
  #consumer(group: string): Consumer {
    return this.kafka.consumer({
      groupId: group,
      sessionTimeout: 10_000,
      rebalanceTimeout: 30_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 1_000,
      allowAutoTopicCreation: false,
    });
  }

  async close(cleanup: { deleteTopics?: string[]; deleteGroups?: string[] } = {}): Promise<void> {
    await this.producer.disconnect().catch(() => {});
    try {
      const existing = new Set(await this.admin.listTopics());
      const topics = (cleanup.deleteTopics ?? []).filter((t) => existing.has(t));
      if (topics.length > 0) await this.admin.deleteTopics({ topics, timeout: 10_000 });
    } catch {
      // Leftovers are harmless: every run uses fresh names.
    }
    const groups = [...new Set(cleanup.deleteGroups ?? [])];
    if (groups.length > 0) await this.admin.deleteGroups(groups).catch(() => {});
    await this.admin.disconnect().catch(() => {});
  }
}
