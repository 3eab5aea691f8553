import { BrokerError, type OutgoingMessage } from '@omnibus/core';
import type { MessageToProduce, Producer, ProducerOptions } from '@platformatic/kafka';
import type { KafkaHealth } from './health.ts';
import { describeBrokers, type KafkaOptions, type SaslMechanism } from './options.ts';
import { createJavaCompatiblePartitioner } from './partitioner.ts';
import type { ProducerClient } from './producer.ts';

type ProducedRecord = MessageToProduce<Buffer | undefined, Buffer, Buffer, Buffer>;

const MECHANISMS = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
} as const satisfies { [name in SaslMechanism]: string };

const RETRY_DELAY_MS = 250;

/** Header names repeat on every event (`ce_id`, `ce_type`, …): their bytes are encoded once. */
const MAX_CACHED_NAMES = 1_000;

/** An error of @platformatic/kafka: a code, whether a retry may help, the Kafka error id of a refusal. */
interface LibraryError extends Error {
  code?: string;
  canRetry?: boolean;
  apiId?: string;
  errors?: unknown[];
}

/**
 * The errors at the bottom of a @platformatic/kafka error: it aggregates the attempts of its own retries
 * and the requests to each broker (`MultipleErrors.errors`); each of those is one failure.
 */
function failures(error: unknown, out: LibraryError[] = [], depth = 0): LibraryError[] {
  if (!(error instanceof Error) || depth > 8) return out;
  const inner = (error as LibraryError).errors;
  if (Array.isArray(inner) && inner.length > 0) for (const e of inner) failures(e, out, depth + 1);
  else out.push(error as LibraryError);
  return out;
}

/** A failure's words with its cause's (`Connection to …:9092 failed.` then `connect ECONNREFUSED …`). */
function describeFailure(failure: LibraryError): string {
  const cause = failure.cause instanceof Error ? ` (${failure.cause.message})` : '';
  const id = failure.apiId ? ` [${failure.apiId}]` : '';
  return `${failure.message}${id}${cause}`;
}

/**
 * Publishes with `@platformatic/kafka`'s idempotent producer (acks=all, one request in flight per broker),
 * records placed by the Java client's partitioner. Each attempt is one `send`; the library retries a few
 * times on its own, keeping its sequence numbers, then gives the failure to the transport's loop.
 */
export class PlatformaticProducer implements ProducerClient {
  readonly #options: KafkaOptions;
  readonly #health: KafkaHealth;
  readonly #names = new Map<string, Buffer>();
  #producer: Producer<Buffer | undefined, Buffer, Buffer, Buffer> | undefined;

  constructor(options: KafkaOptions, health: KafkaHealth) {
    this.#options = options;
    this.#health = health;
  }

  async connect(): Promise<void> {
    const { Producer } = await import('@platformatic/kafka');
    const o = this.#options;
    const settings: ProducerOptions<Buffer | undefined, Buffer, Buffer, Buffer> = {
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      acks: -1,
      autocreateTopics: false,
      partitioner: createJavaCompatiblePartitioner(),
      connectTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      timeout: o.requestTimeoutMs,
      // The library's own attempts keep the producer id and sequence numbers, so a batch stored without
      // its answer is not stored twice; once they are used up it forgets the producer id, and the
      // transport's next attempt could store such a batch again. So they span the whole publish timeout
      // (a broker restart is waited out here): with 3 of them, broker-restart saw 99–162 duplicates,
      // kafkajs none.
      retries: Math.max(3, Math.ceil(o.publishTimeoutMs / RETRY_DELAY_MS)),
      retryDelay: RETRY_DELAY_MS,
      ...(o.ssl ? { tls: o.ssl === true ? {} : o.ssl } : {}),
      ...(o.sasl
        ? {
            sasl: {
              mechanism: MECHANISMS[o.sasl.mechanism],
              username: o.sasl.username,
              password: o.sasl.password,
            },
          }
        : {}),
    };
    const producer = new Producer(settings);
    try {
      // Asks the broker for a producer id now, so connect() fails when the broker cannot be reached.
      await producer.initIdempotentProducer({});
    } catch (error) {
      await producer.close(true).catch(() => {});
      throw error;
    }
    this.#producer = producer;
    this.#health.producerConnected(producer);
  }

  async send(messages: OutgoingMessage[]): Promise<void> {
    const records: ProducedRecord[] = new Array(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const headers = new Map<Buffer, Buffer>();
      for (const name in m.headers) headers.set(this.#name(name), Buffer.from(m.headers[name]!));
      records[i] = {
        topic: m.topic,
        key: m.key === undefined ? undefined : Buffer.from(m.key),
        value: Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength),
        headers,
      };
    }
    await this.#producer!.send({ messages: records });
  }

  #name(name: string): Buffer {
    let bytes = this.#names.get(name);
    if (!bytes) {
      bytes = Buffer.from(name);
      if (this.#names.size < MAX_CACHED_NAMES) this.#names.set(name, bytes);
    }
    return bytes;
  }

  /**
   * Every failure is one the library marks retriable (the broker unreachable, no leader, stale metadata)
   * or a request that timed out; a refusal (message too large, not authorized, a login refused) is not.
   */
  retriable(error: unknown): boolean {
    const all = failures(error);
    return all.length > 0 && all.every((f) => f.canRetry === true || f.code === 'PLT_KFK_NETWORK');
  }

  /** The library replaces a lost producer id itself (and forgets it after a failed send). */
  async recover(): Promise<undefined> {
    return undefined;
  }

  toBrokerError(error: unknown, action: string): BrokerError {
    if (error instanceof BrokerError) return error;
    const o = this.#options;
    const password = o.sasl?.password;
    const scrub = (text: string) => (password ? text.split(password).join('***') : text);
    const brokers = describeBrokers(o);
    const all = failures(error);
    const root = scrub(all.length > 0 ? describeFailure(all.at(-1)!) : String(error));
    if (all.some((f) => f.code === 'PLT_KFK_AUTHENTICATION')) {
      return new BrokerError(
        `[omnibus] [kafka] ${brokers} refused the SASL login of "${o.sasl?.username ?? ''}" (${o.sasl?.mechanism ?? 'no mechanism'}) — check the user, password and sasl= mechanism (${root})`,
        { cause: error },
      );
    }
    if (all.length > 0 && all.every((f) => f.code === 'PLT_KFK_NETWORK')) {
      return new BrokerError(
        `[omnibus] [kafka] cannot reach ${brokers} — is the broker running? (${action}: ${root})`,
        { cause: error },
      );
    }
    return new BrokerError(`[omnibus] [kafka] ${action} failed on ${brokers}: ${root}`, { cause: error });
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    if (!producer) return;
    this.#health.producerClosed(producer);
    await producer.close();
  }
}
