import { hostname } from 'node:os';
import { createTransport } from './config.ts';
import { Consumer } from './consumer.ts';
import type { EventContract } from './contract.ts';
import {
  attributeHeaders,
  CONTENT_TYPE,
  DEAD_LETTER_HEADERS,
  encodedSize,
  isReservedHeader,
  newEventId,
  splitHeaders,
  WRITER_SCHEMA_HEADER,
} from './envelope.ts';
import { ClosedError, DecodeError, MessageTooLargeError, redactUrl, ValidationError } from './errors.ts';
import { MemoryIdempotencyStore } from './idempotency.ts';
import { type BusOptions, parseBusOptions, parseSubscribeOptions, type SubscribeOptions } from './options.ts';
import type { Capabilities, Delivery, OutgoingMessage, Transport } from './transport.ts';

/** What a handler learns about the event besides its payload. */
export interface EventContext {
  /** CloudEvents id: the same on every redelivery and duplicate. */
  id: string;
  type: string;
  source: string;
  time: Date;
  key: string | undefined;
  /** 1 on the first attempt, counting retries (and broker redeliveries where the broker counts them). */
  attempt: number;
  /** The publisher's own headers (CloudEvents attributes are the fields above). */
  headers: Record<string, string>;
  topic: string;
  group: string;
}

export type Handler<T> = (event: T, context: EventContext) => Promise<void> | void;

export interface PublishOptions {
  /** Ordering key: events with one key are consumed in publish order. */
  key?: string;
  /** Your own headers (string values; names starting `ce_`, `omnibus-` or `content-type` are reserved). */
  headers?: Record<string, string>;
  /** Event id. @default a random UUID */
  id?: string;
  /** Event time. @default now */
  time?: Date;
}

/** An event that could not be processed, as read back from a dead-letter topic. */
export interface DeadLetter {
  /** Why: `max-attempts` (the handler kept failing) or `undecodable` (bytes or schema unreadable). */
  reason: string;
  /** The last error message. */
  error: string;
  attempts: number;
  group: string;
  /** Topic the event was consumed from. */
  topic: string;
  key: string | undefined;
  /** Original headers, unchanged. */
  headers: Record<string, string>;
  /** Original bytes, unchanged. */
  body: Uint8Array;
}

/** How long `close()` waits. */
export interface CloseOptions {
  /**
   * Stop waiting for running handlers after this many ms (e.g. inside a shutdown grace period); their
   * events are left to the broker and redelivered (at-least-once). @default wait until they finish
   */
  timeoutMs?: number;
}

export interface Subscription {
  /** Waits for running handlers (acking those that succeed), returns the rest to the broker. Idempotent. */
  close(options?: CloseOptions): Promise<void>;
}

const DEFAULT_DEAD_LETTER_GROUP = 'dead-letters';

/** `ce_dataschema` of a contract, built once per contract rather than once per event. */
const dataSchemas = new WeakMap<object, string>();
function dataSchemaOf(contract: { type: string; version: number; fingerprint: string }): string {
  let urn = dataSchemas.get(contract);
  if (urn === undefined) {
    urn = `urn:omnibus:avro:${contract.type}:v${contract.version}:${contract.fingerprint}`;
    dataSchemas.set(contract, urn);
  }
  return urn;
}

export class Bus {
  /** The adapter underneath (for raw access in tests and tools). */
  readonly transport: Transport;
  readonly #source: string;
  readonly #embedSchema: boolean;
  readonly #onError: (error: Error) => void;
  readonly #consumers = new Set<Consumer<unknown>>();
  readonly #provisioned = new Set<string>();
  readonly #memoryStore = new MemoryIdempotencyStore();
  #closed: Promise<void> | undefined;

  constructor(transport: Transport, options: BusOptions) {
    this.transport = transport;
    this.#source = options.source ?? `urn:omnibus:${hostname()}`;
    this.#embedSchema = options.embedWriterSchema ?? true;
    this.#onError = options.onError ?? ((error) => console.error(error));
  }

  get capabilities(): Capabilities {
    return this.transport.capabilities;
  }

  /**
   * Builds the message `publish` would send, without sending it: validates the payload (throwing
   * {@link ValidationError} naming the field), encodes it and checks the adapter's size limit.
   */
  encode<T, In>(contract: EventContract<T, In>, payload: In, options: PublishOptions = {}): OutgoingMessage {
    const userHeaders = options.headers;
    let own: Record<string, string> | undefined;
    if (userHeaders) {
      own = {};
      for (const name in userHeaders) {
        if (!Object.hasOwn(userHeaders, name)) continue;
        const value = userHeaders[name];
        if (isReservedHeader(name))
          throw new ValidationError(contract.type, [
            { path: ['headers', name], message: 'reserved header name' },
          ]);
        if (typeof value !== 'string')
          throw new ValidationError(contract.type, [
            { path: ['headers', name], message: 'header values must be strings' },
          ]);
        own[name] = value;
      }
    }
    const body = contract.encode(payload);
    const attributes = attributeHeaders(
      {
        id: options.id ?? newEventId(),
        type: contract.type,
        source: this.#source,
        specversion: '1.0',
        time: options.time ?? new Date(),
        datacontenttype: CONTENT_TYPE,
        dataschema: dataSchemaOf(contract),
      },
      this.#embedSchema ? contract.schemaJson : undefined,
    );
    // Without user headers the attributes are the headers (same names, same order): no second copy.
    const headers = own ? Object.assign(own, attributes) : attributes;
    const size = encodedSize(body, headers);
    const limit = this.capabilities.maxMessageBytes;
    if (size > limit) throw new MessageTooLargeError(contract.type, size, limit, this.transport.name);
    return { topic: contract.topic, key: options.key, body, headers };
  }

  /** Validates, encodes and publishes one event; resolves when the broker has it. */
  async publish<T, In>(
    contract: EventContract<T, In>,
    payload: In,
    options: PublishOptions = {},
  ): Promise<{ id: string }> {
    this.#assertOpen();
    const message = this.encode(contract, payload, options);
    await this.transport.publish(message);
    return { id: message.headers.ce_id! };
  }

  /** Sends bytes as they are, bypassing contracts (tools and tests, e.g. injecting garbage). Same size limit. */
  async publishRaw(message: OutgoingMessage): Promise<void> {
    this.#assertOpen();
    const size = encodedSize(message.body, message.headers);
    const limit = this.capabilities.maxMessageBytes;
    if (size > limit) throw new MessageTooLargeError(message.topic, size, limit, this.transport.name);
    await this.transport.publish(message);
  }

  /**
   * Creates the broker resources for `contract` so that events published from now on are kept for each
   * group even before it first subscribes, plus the dead-letter topic and its reader group.
   */
  async provision(
    contract: EventContract<unknown, never> | { topic: string },
    options: { groups: string[]; deadLetterTopic?: string },
  ): Promise<void> {
    this.#assertOpen();
    await this.#provision(contract.topic, options.groups);
    await this.#provision(options.deadLetterTopic ?? `${contract.topic}.dlq`, [DEFAULT_DEAD_LETTER_GROUP]);
  }

  /** Consumes events of `contract`. Returning acks; throwing retries with backoff, then dead-letters. */
  async subscribe<T, In>(
    contract: EventContract<T, In>,
    options: SubscribeOptions,
    handler: Handler<T>,
  ): Promise<Subscription> {
    this.#assertOpen();
    const o = parseSubscribeOptions(options);
    const topic = contract.topic;
    const deadLetterTopic = o.deadLetterTopic ?? `${topic}.dlq`;
    await this.provision(contract, { groups: [o.group], deadLetterTopic });
    return this.#consume<{ event: T; context: Omit<EventContext, 'attempt'> }>(topic, o, deadLetterTopic, {
      prepare: (delivery) => {
        const { attrs, user } = splitHeaders(delivery.headers);
        const event = contract.decode(delivery.body, attrs[WRITER_SCHEMA_HEADER]);
        const id = attrs.ce_id;
        if (!id || attrs.ce_type !== contract.type) {
          throw new DecodeError(
            `event on ${topic} lacks a ce_id or has type "${attrs.ce_type}" instead of "${contract.type}"`,
          );
        }
        const time = new Date(attrs.ce_time ?? Number.NaN);
        const context = {
          id,
          type: contract.type,
          source: attrs.ce_source ?? '',
          time,
          key: delivery.key,
          headers: user,
          topic,
          group: o.group,
        };
        return { value: { event, context }, id };
      },
      run: ({ event, context }, _delivery, attempt) => handler(event, { ...context, attempt }),
    });
  }

  /** Reads what subscriptions of `contract` dead-lettered. Throwing leaves the dead letter for a later retry. */
  async subscribeDeadLetters(
    contract: { topic: string },
    options: { group?: string; deadLetterTopic?: string; concurrency?: number },
    handler: (letter: DeadLetter) => Promise<void> | void,
  ): Promise<Subscription> {
    this.#assertOpen();
    const topic = options.deadLetterTopic ?? `${contract.topic}.dlq`;
    const group = options.group ?? DEFAULT_DEAD_LETTER_GROUP;
    await this.#provision(topic, [group]);
    const o = parseSubscribeOptions({
      group,
      concurrency: options.concurrency,
      maxAttempts: Number.MAX_SAFE_INTEGER,
    });
    return this.#consume<DeadLetter>(topic, o, undefined, {
      prepare: (delivery) => {
        const h = delivery.headers;
        const headers = Object.fromEntries(
          Object.entries(h).filter(([name]) => !name.startsWith('omnibus-dead-letter-')),
        );
        return {
          id: undefined,
          value: {
            reason: h[DEAD_LETTER_HEADERS.reason] ?? 'unknown',
            error: h[DEAD_LETTER_HEADERS.error] ?? '',
            attempts: Number(h[DEAD_LETTER_HEADERS.attempts] ?? 0),
            group: h[DEAD_LETTER_HEADERS.group] ?? '',
            topic: h[DEAD_LETTER_HEADERS.topic] ?? '',
            key: delivery.key,
            headers,
            body: delivery.body,
          },
        };
      },
      run: (letter) => handler(letter),
    });
  }

  async #consume<P>(
    topic: string,
    o: SubscribeOptions,
    deadLetterTopic: string | undefined,
    steps: {
      prepare(delivery: Delivery): { value: P; id: string | undefined };
      run(value: P, delivery: Delivery, attempt: number): Promise<void> | void;
    },
  ): Promise<Subscription> {
    const concurrency = o.concurrency ?? 8;
    const idempotency = o.idempotency;
    const consumer = new Consumer<P>({
      transport: this.transport,
      topic,
      group: o.group,
      concurrency,
      prefetch: o.prefetch ?? Math.max(16, concurrency * 4),
      maxAttempts: o.maxAttempts ?? 5,
      backoff: o.backoff ?? {},
      deadLetterTopic,
      idempotency: idempotency && {
        store: idempotency.store === 'memory' ? this.#memoryStore : idempotency.store,
        leaseMs: idempotency.leaseMs ?? 60_000,
        ttlMs: idempotency.ttlMs ?? 86_400_000,
      },
      prepare: steps.prepare,
      run: async (value, delivery, attempt) => steps.run(value, delivery, attempt),
      onError: this.#onError,
    });
    await consumer.start();
    this.#consumers.add(consumer as Consumer<unknown>);
    return {
      close: async (options?: CloseOptions) => {
        await consumer.close(options?.timeoutMs);
        this.#consumers.delete(consumer as Consumer<unknown>);
      },
    };
  }

  async #provision(topic: string, groups: string[]): Promise<void> {
    const missing = groups.filter((g) => !this.#provisioned.has(`${topic}\u0000${g}`));
    if (missing.length === 0) return;
    await this.transport.provision(topic, missing);
    for (const g of missing) this.#provisioned.add(`${topic}\u0000${g}`);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`bus (${this.transport.name})`);
  }

  /** Closes every subscription (see {@link Subscription.close}), flushes and disconnects. Idempotent. */
  close(options?: CloseOptions): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled([...this.#consumers].map((c) => c.close(options?.timeoutMs)));
      await this.transport.close();
    })();
    return this.#closed;
  }
}

/**
 * Opens a bus. `createBus('kafka://127.0.0.1:9092')`, `createBus({ url, source })`, or `createBus()` for
 * `BROKER_URL` (default `memory://`). Connection errors are typed and never contain credentials.
 */
export async function createBus(urlOrOptions?: string | BusOptions): Promise<Bus> {
  const options = parseBusOptions(
    typeof urlOrOptions === 'string' ? { url: urlOrOptions } : (urlOrOptions ?? {}),
  );
  const url = options.url ?? process.env.BROKER_URL ?? 'memory://';
  const transport = options.transport ?? (await createTransport(url));
  try {
    await transport.connect();
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    throw Object.assign(error as Error, { message: message.replaceAll(url, redactUrl(url)) });
  }
  return new Bus(transport, options);
}
