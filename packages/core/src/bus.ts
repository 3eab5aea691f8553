import { hostname } from 'node:os';
import type {
  CloseOptions,
  DeadLetter,
  EventContext,
  Handler,
  PublishOptions,
  Subscription,
} from './bus-types.ts';
import { createTransport } from './config.ts';
import { Consumer } from './consumer.ts';
import type { EventContract } from './contract.ts';
import {
  attributeHeaders,
  CONTENT_TYPE,
  DEAD_LETTER_HEADERS,
  encodedSize,
  fromStructured,
  isoTime,
  isReservedHeader,
  newEventId,
  rememberSize,
  STRUCTURED_CONTENT_TYPE,
  splitHeaders,
  WRITER_SCHEMA_HEADER,
} from './envelope.ts';
import {
  ClosedError,
  DecodeError,
  MessageTooLargeError,
  PublishBatchError,
  redactUrl,
  SubscriptionError,
  ValidationError,
} from './errors.ts';
import { dataSchemaOf } from './fingerprint.ts';
import { type BusHealth, busHealth } from './health.ts';
import { MemoryIdempotencyStore } from './idempotency.ts';
import { lagOf, type SubscriptionLag } from './lag.ts';
import { silentLogger } from './logger.ts';
import { composeHooks, type Hooks, type Middleware, type MiddlewareBus } from './middleware.ts';
import {
  type BusOptions,
  brokerUrlOf,
  parseBusOptions,
  parseSubscribeOptions,
  type SubscribeOptions,
} from './options.ts';
import { Outbox } from './outbox.ts';
import { publishAll } from './publish-batch.ts';
import { publishBatchThroughHook, publishContext } from './publish-hooks.ts';
import { settlesWithin } from './retry.ts';
import { closeOnSignals, type SignalOptions } from './signals.ts';
import type { Capabilities, Delivery, OutgoingMessage, Transport } from './transport.ts';

/** What an event must carry (CloudEvents 1.0 REQUIRED attributes, in the core's header names). */
const REQUIRED_ATTRIBUTES = ['ce_id', 'ce_source', 'ce_specversion', 'ce_type'] as const;

export type {
  CloseOptions,
  DeadLetter,
  EventContext,
  Handler,
  PublishOptions,
  Subscription,
} from './bus-types.ts';

const DEFAULT_DEAD_LETTER_GROUP = 'dead-letters';
const NO_BYTES = new Uint8Array(0);
type ContractIdentity = Pick<EventContract, 'type' | 'version' | 'fingerprint' | 'writerSchemaJson'>;

export class Bus {
  /** The adapter underneath (for raw access in tests and tools). */
  readonly transport: Transport;
  readonly #source: string;
  readonly #embedSchema: boolean;
  readonly #onError: (error: Error) => void;
  readonly #consumers = new Set<Consumer<unknown>>();
  readonly #provisioned = new Set<string>();
  readonly #fixedBytesOf = new WeakMap<object, number>();
  readonly #memoryStore = new MemoryIdempotencyStore();
  readonly #outbox: Outbox;
  readonly #middleware: Middleware[];
  /** Composed once per `use`; the consumers read it per run, so later `use` calls reach them too. */
  readonly #hooks: Hooks;
  /** What middleware with an `attach` hook see of this bus; made for the first of them. */
  #attached: MiddlewareBus | undefined;
  #closed: Promise<void> | undefined;

  constructor(transport: Transport, options: BusOptions) {
    this.#outbox = new Outbox(options.maxPendingPublishes ?? 10_000, options.onPublishBackpressure ?? 'wait');
    this.transport = transport;
    this.#source = options.source ?? `urn:omnibus:${hostname()}`;
    this.#embedSchema = options.embedWriterSchema ?? true;
    const logger = options.logger ?? silentLogger;
    this.#onError = options.onError ?? ((error) => logger.error({ err: error }, error.message));
    this.#middleware = [...(options.middleware ?? [])];
    this.#hooks = composeHooks(this.#middleware);
    this.#attach(this.#middleware);
  }

  /**
   * Adds middleware after those already registered (so it runs inside them). It applies from the next
   * publish and the next handler run on, existing subscriptions included.
   */
  use(...middleware: Middleware[]): this {
    this.#middleware.push(...middleware);
    Object.assign(this.#hooks, composeHooks(this.#middleware));
    this.#attach(middleware);
    return this;
  }

  #attach(middleware: readonly Middleware[]): void {
    for (const m of middleware) {
      if (!m.attach) continue;
      if (!this.#attached) {
        const bus = this;
        this.#attached = {
          transport: this.transport.name,
          get closed() {
            return bus.#closed !== undefined;
          },
          lag: () => this.lag(),
          reportError: (error) => this.#onError(error),
        };
      }
      m.attach(this.#attached);
    }
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
    const id = options.id ?? newEventId();
    const time = isoTime(options.time);
    const headers = this.#attributes(contract, id, time);
    // The attributes' size but for id and time is the same for every event of a contract.
    let size =
      this.#fixedBytes(contract) +
      body.byteLength +
      Buffer.byteLength(id) +
      time.length + // ISO 8601: ASCII
      (options.key === undefined ? 0 : Buffer.byteLength(options.key));
    // User headers go first (the attributes overwrite none: reserved names were refused above).
    if (own) size += encodedSize(NO_BYTES, own);
    const all = own ? Object.assign(own, headers) : headers;
    const limit = this.capabilities.maxMessageBytes;
    if (size > limit) throw new MessageTooLargeError(contract.type, size, limit, this.transport.name);
    const message = { topic: contract.topic, key: options.key, body, headers: all };
    rememberSize(message, size);
    return message;
  }

  #attributes(contract: ContractIdentity, id: string, time: string): Record<string, string> {
    return attributeHeaders(
      {
        id,
        type: contract.type,
        source: this.#source,
        specversion: '1.0',
        time,
        datacontenttype: CONTENT_TYPE,
        dataschema: dataSchemaOf(contract),
      },
      this.#embedSchema ? contract.writerSchemaJson : undefined,
    );
  }

  /** Bytes of a contract's attribute headers, names and values, but for the values of id and time. */
  #fixedBytes(contract: ContractIdentity): number {
    let bytes = this.#fixedBytesOf.get(contract);
    if (bytes === undefined) {
      bytes = encodedSize(NO_BYTES, this.#attributes(contract, '', ''));
      this.#fixedBytesOf.set(contract, bytes);
    }
    return bytes;
  }

  /** Validates, encodes and publishes one event; resolves when the broker has it. */
  async publish<T, In>(
    contract: EventContract<T, In>,
    payload: In,
    options: PublishOptions = {},
  ): Promise<{ id: string }> {
    this.#assertOpen();
    const message = this.encode(contract, payload, options);
    const hook = this.#hooks.publish;
    if (hook && this.#hooks.publishing()) {
      await hook(publishContext(this.transport.name, contract.type, message), () => {
        // Middleware may have added headers: the event must still fit.
        this.#assertFits(message);
        return this.#outbox.send(() => this.transport.publish(message));
      });
    } else await this.#outbox.send(() => this.transport.publish(message));
    return { id: message.headers.ce_id! };
  }

  /**
   * Validates and encodes every event first (a {@link ValidationError} sends nothing), then publishes them
   * in as few broker requests as the adapter allows. Events of one key are stored in array order; once one
   * fails, the later ones of its key are not sent. Resolves with the ids once all are stored, else throws
   * {@link PublishBatchError} saying which were stored and which were not.
   */
  async publishBatch<T, In>(
    contract: EventContract<T, In>,
    events: ({ payload: In } & PublishOptions)[],
  ): Promise<{ ids: string[] }> {
    this.#assertOpen();
    const messages = events.map(({ payload, ...options }) => this.encode(contract, payload, options));
    const ids = messages.map((m) => m.headers.ce_id!);
    const send = (batch: OutgoingMessage[]) => this.#outbox.send(() => publishAll(this.transport, batch));
    const hook = this.#hooks.publish;
    const outcomes =
      hook && this.#hooks.publishing()
        ? await publishBatchThroughHook(
            hook,
            messages.map((m) => publishContext(this.transport.name, contract.type, m)),
            messages,
            (batch) => {
              for (const message of batch) this.#assertFits(message);
              return send(batch);
            },
          )
        : await send(messages);
    const failures = outcomes.flatMap((error, index) => (error ? [{ index, id: ids[index]!, error }] : []));
    if (failures.length > 0) {
      throw new PublishBatchError(
        ids.filter((_, index) => !outcomes[index]),
        failures,
      );
    }
    return { ids };
  }

  /** Sends bytes as they are, bypassing contracts (tools and tests, e.g. injecting garbage). Same size limit. */
  async publishRaw(message: OutgoingMessage): Promise<void> {
    this.#assertOpen();
    this.#assertFits(message);
    await this.#outbox.send(() => this.transport.publish(message));
  }

  #assertFits(message: OutgoingMessage): void {
    const size = encodedSize(message.body, message.headers, message.key);
    const limit = this.capabilities.maxMessageBytes;
    if (size > limit) throw new MessageTooLargeError(message.topic, size, limit, this.transport.name);
    rememberSize(message, size);
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
        let { attrs, user } = splitHeaders(delivery.headers);
        let body = delivery.body;
        let key = delivery.key;
        if (attrs['content-type']?.startsWith(STRUCTURED_CONTENT_TYPE)) {
          // Structured content mode (a CloudEvents SDK's default): the event is JSON around the Avro bytes.
          const structured = fromStructured(body);
          attrs = structured.attrs;
          user = { ...user, ...structured.extensions };
          body = structured.data;
          key ??= structured.extensions.partitionkey; // the partitioning extension, where the binding has no key
        }
        const event = contract.decode(body, attrs[WRITER_SCHEMA_HEADER]);
        const id = attrs.ce_id;
        const source = attrs.ce_source;
        // CloudEvents REQUIRED attributes: without one the event is not a CloudEvent; dead-lettered, saying which.
        const missing = REQUIRED_ATTRIBUTES.filter((name) => !attrs[name]);
        if (missing.length > 0) {
          throw new DecodeError(
            `event on ${topic} lacks the CloudEvents attribute(s) ${missing.join(', ')} (REQUIRED; names per binding: ce_ on Kafka, cloudEvents_ on AMQP)`,
          );
        }
        if (attrs.ce_type !== contract.type) {
          throw new DecodeError(
            `event on ${topic} has type "${attrs.ce_type}" instead of "${contract.type}"`,
          );
        }
        const time = attrs.ce_time ? new Date(attrs.ce_time) : undefined;
        if (time && Number.isNaN(time.getTime())) {
          throw new DecodeError(
            `event on ${topic} has ce_time "${attrs.ce_time}", not an RFC 3339 timestamp`,
          );
        }
        const context = {
          id: id!,
          type: contract.type,
          source: source!,
          time,
          key,
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
      hooks: this.#hooks,
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

  /**
   * A snapshot for liveness and readiness probes, from what the bus already knows (no broker round trip):
   * the connection as the adapter reports it, pending publishes, and per subscription its state, handlers
   * in flight, deliveries held and the last error the adapter reported. See {@link BusHealth.healthy}.
   */
  health(): BusHealth {
    return busHealth(
      this.transport,
      this.#closed !== undefined,
      this.#outbox.size,
      [...this.#consumers].map((consumer) => consumer.health()),
    );
  }

  /**
   * The backlog of each (topic, group) this bus subscribes — dead-letter readers included, each pair once —
   * as the broker counts it (`Transport.lag`; each adapter's README says what it counts, exactly or
   * approximately). Unlike {@link health} it asks the broker: one or two round trips per pair, all at once.
   * `lag` is `undefined` where the adapter cannot tell. Rejects (with the adapter's `BrokerError`) when the
   * broker cannot be asked. A closed bus has no subscriptions: `[]`.
   */
  async lag(): Promise<SubscriptionLag[]> {
    if (this.#closed) return [];
    return lagOf(this.transport, this.#consumers);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`bus (${this.transport.name})`);
  }

  /**
   * Closes every subscription (see {@link Subscription.close}), flushes and disconnects. Idempotent. With
   * `timeoutMs` the whole close ends in that time (see {@link CloseOptions}).
   */
  close(options?: CloseOptions): Promise<void> {
    this.#closed ??= (async () => {
      const timeoutMs = options?.timeoutMs;
      const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
      await Promise.allSettled([...this.#consumers].map((c) => c.close(timeoutMs)));
      const closing = this.transport.close();
      if (deadline === undefined) return closing;
      if (await settlesWithin(closing, deadline - Date.now())) return closing;
      closing.catch(() => {}); // goes on in the background; its outcome no longer concerns the caller
      const abandoned = this.#outbox.abandon(timeoutMs!);
      this.#onError(
        new SubscriptionError(
          'CLOSE_TIMEOUT',
          `close() stopped waiting after ${timeoutMs} ms for the ${this.transport.name} connection to flush and close; ${abandoned} unconfirmed publish(es) rejected`,
        ),
      );
    })();
    return this.#closed;
  }

  /**
   * The shutdown every service needs, in one call: on SIGTERM (or SIGINT) stop taking events, let running
   * handlers finish within `timeoutMs`, hand the rest back, leave consumer groups at once (so partitions move
   * without waiting out a session time-out), flush, and exit 0 (1 if closing failed). A second signal exits
   * at once. Returns a function that removes the handlers.
   */
  closeOnSignals(options: SignalOptions = {}): () => void {
    return closeOnSignals(this, options);
  }
}

/**
 * Opens a bus. `createBus('kafka://127.0.0.1:9092')`, `createBus({ url, source, logger })`, or
 * `createBus()` for `BROKER_URL`. With no URL at all it throws a {@link ConfigError}: an in-process
 * broker is opted into with `memory://`, never a silent fallback. Connection errors are typed and never
 * contain credentials.
 */
export async function createBus(urlOrOptions?: string | BusOptions): Promise<Bus> {
  const options = parseBusOptions(
    typeof urlOrOptions === 'string' ? { url: urlOrOptions } : (urlOrOptions ?? {}),
  );
  const url = brokerUrlOf(options); // undefined only when a ready transport is given
  const transport = options.transport ?? (await createTransport(url as string, { logger: options.logger }));
  try {
    await transport.connect();
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (url) Object.assign(error as Error, { message: message.replaceAll(url, redactUrl(url)) });
    throw error;
  }
  return new Bus(transport, options);
}
