import type { BrokerError, OutgoingMessage } from '@omnibus/core';
import type { Kafka, Producer } from 'kafkajs';
import { kafkaErrorTypes, toBrokerError } from './errors.ts';
import type { KafkaHealth } from './health.ts';
import type { KafkaOptions } from './options.ts';
import { sendBatch } from './publish.ts';

/**
 * The client the transport publishes with, one attempt at a time: the transport's send loop (retries until
 * `publishTimeoutMs`, health, typed errors) is the same whichever client is behind it.
 */
export interface ProducerClient {
  /** Opens the connection and the idempotent producer session; fails when the broker cannot be reached. */
  connect(): Promise<void>;
  /** One attempt to have the broker store `messages` (idempotent, acks=all), in order per partition. */
  send(messages: OutgoingMessage[]): Promise<void>;
  /** The failure is worth another attempt: the broker unreachable, restarting, electing a leader, timed out. */
  retriable(error: unknown): boolean;
  /**
   * After a failed attempt: replaces the producer when the broker lost its state (producer id, sequence
   * numbers). `true`: replaced, send again; `false`: replacing failed for good; `undefined`: nothing lost.
   */
  recover(error: unknown): Promise<boolean | undefined>;
  /** The failure as a BrokerError naming the brokers and the cause, without credentials. */
  toBrokerError(error: unknown, action: string): BrokerError;
  /** Disconnects; publishes were flushed before. */
  close(): Promise<void>;
}

/** The broker no longer knows the producer's id or sequence: only a new producer can publish again. */
function lostProducerState(error: unknown): boolean {
  const types = kafkaErrorTypes(error);
  return ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH'].some((t) =>
    types.has(t),
  );
}

/**
 * Worth another attempt: the innermost cause (kafkajs wraps the error it gave up on) is one kafkajs marks
 * retriable — the broker cannot be reached, has no leader for the partition yet, timed out — not a refusal
 * such as a message too large or a missing authorization.
 */
export function kafkajsRetriable(error: unknown): boolean {
  let current = error as { retriable?: boolean; originalError?: unknown; cause?: unknown } | undefined;
  let innermost = current;
  for (let depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    innermost = current;
    current = (current.originalError ?? current.cause) as typeof current;
  }
  return innermost?.retriable === true;
}

/** The idempotent producer (acks=all) of kafkajs; not yet connected. */
async function newProducer(kafka: Kafka): Promise<Producer> {
  return kafka.producer({
    idempotent: true,
    // One attempt of the transport's: kafkajs would retry forever by default. It gives up after ~5 s when
    // the broker cannot be reached (its reconnection has the client's 6 retries); the transport then tries
    // again until publishTimeoutMs.
    retry: { initialRetryTime: 100, maxRetryTime: 3_000, retries: 15 },
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // The Java client's default partitioner (murmur2 of the key): a key lands where Java would put it.
    createPartitioner: (await import('kafkajs')).default.Partitioners.DefaultPartitioner,
  });
}

/** Publishes with kafkajs's idempotent producer, one `sendBatch` per attempt. */
export class KafkajsProducer implements ProducerClient {
  readonly #kafka: Kafka;
  readonly #options: KafkaOptions;
  readonly #health: KafkaHealth;
  #producer: Producer | undefined;

  constructor(kafka: Kafka, options: KafkaOptions, health: KafkaHealth) {
    this.#kafka = kafka;
    this.#options = options;
    this.#health = health;
  }

  async connect(): Promise<void> {
    const producer = await newProducer(this.#kafka);
    this.#health.watchProducer(producer);
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect().catch(() => {});
      throw error;
    }
    this.#producer = producer;
  }

  send(messages: OutgoingMessage[]): Promise<void> {
    return sendBatch(this.#producer!, messages, this.#options.requestTimeoutMs);
  }

  retriable(error: unknown): boolean {
    return kafkajsRetriable(error);
  }

  async recover(error: unknown): Promise<boolean | undefined> {
    if (!lostProducerState(error)) return undefined;
    // After a broker restart the idempotent producer's sequence numbers may no longer match the broker's
    // (OUT_OF_ORDER_SEQUENCE_NUMBER), and kafkajs never recovers from it: every later send fails too. A new
    // producer gets a new producer id; the batch was refused, so it is sent again.
    const old = this.#producer;
    try {
      await this.connect();
    } catch (replaceError) {
      return kafkajsRetriable(replaceError);
    }
    await old?.disconnect().catch(() => {});
    return true;
  }

  toBrokerError(error: unknown, action: string): BrokerError {
    return toBrokerError(error, action, this.#options);
  }

  async close(): Promise<void> {
    await this.#producer?.disconnect();
  }
}
