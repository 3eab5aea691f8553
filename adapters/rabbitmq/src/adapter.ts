import {
  type Capabilities,
  ClosedError,
  type OutgoingMessage,
  type SubscribeRequest,
  type Transport,
  type TransportFactory,
  type TransportHealth,
  type TransportOptions,
  type TransportSubscription,
} from '@omnibus/core';
import { ConnectionManager } from './connection.ts';
import { parseRabbitMqUrl, type RabbitMqOptions } from './options.ts';
import { Publisher } from './publish.ts';
import { PartitionedSubscription } from './subscribe.ts';
import { Topology } from './topology.ts';

/** The adapter's name in errors and reports. */
export const ADAPTER_NAME = 'rabbitmq';

/** RabbitMQ transport: see the package README for the topology and what each capability rests on. */
export class RabbitMqTransport implements Transport {
  readonly name = ADAPTER_NAME;
  readonly capabilities: Capabilities;
  /** The settings in force (defaults, then the URL query, then `overrides`). */
  readonly options: Readonly<RabbitMqOptions>;
  readonly #connection: ConnectionManager;
  readonly #topology: Topology;
  readonly #publisher: Publisher;
  readonly #subscriptions = new Set<PartitionedSubscription>();
  #closing: Promise<void> | undefined;

  /** `context.logger` receives connection losses and reconnections (see {@link ConnectionManager}). */
  constructor(url: URL, overrides: Partial<RabbitMqOptions> = {}, context: TransportOptions = {}) {
    const { target, options } = parseRabbitMqUrl(url, overrides);
    this.options = options;
    this.#connection = new ConnectionManager(target, options, context.logger);
    this.#topology = new Topology(this.#connection, options);
    // RabbitMQ does not tell its max_message_size over AMQP: a refusal does, and lowers the limit.
    this.#publisher = new Publisher(this.#connection, this.#topology, options, (bytes) => {
      this.capabilities.maxMessageBytes = Math.min(this.capabilities.maxMessageBytes, bytes);
    });
    this.capabilities = {
      consumerGroups: true,
      fanOut: true,
      orderedByKey: true,
      orderedByKeyAcrossInstances: true,
      persistent: true,
      deadLetter: true,
      crashRedelivery: true,
      maxMessageBytes: options.maxMessageBytes,
    };
  }

  /** `up` while a connection is open, `connecting` while the connection manager reconnects. */
  health(): TransportHealth {
    if (this.#closing || this.#connection.closed) return { connection: 'down', detail: 'closed' };
    if (this.#connection.current) return { connection: 'up' };
    return { connection: 'connecting', detail: 'reconnecting' };
  }

  connect(): Promise<void> {
    this.#assertOpen('connect');
    return this.#connection.connect();
  }

  publish(message: OutgoingMessage): Promise<void> {
    if (this.#closing) return Promise.reject(new ClosedError('rabbitmq transport'));
    return this.#publisher.publish(message);
  }

  async provision(topic: string, groups: string[]): Promise<void> {
    this.#assertOpen('provision');
    const deadline = Date.now() + this.options.publishTimeoutMs;
    for (const group of groups) await this.#topology.ensureGroup(topic, group, deadline);
  }

  /**
   * Messages ready in the group's partition queues (`T.G.0` … `T.G.<partitions−1>`), summed: what the
   * group has not been handed yet. Deliveries a consumer holds unacknowledged (at most its prefetch,
   * `maxInFlight`) are not counted — AMQP does not tell them; the management API's `messages_unacknowledged`
   * does. Exact for ready messages; one passive queue.declare per partition queue. `undefined` when the
   * group's queues do not exist (never provisioned).
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    this.#assertOpen('lag');
    return this.#topology.readyMessages(topic, group, Date.now() + this.options.publishTimeoutMs);
  }

  async subscribe(request: SubscribeRequest): Promise<TransportSubscription> {
    this.#assertOpen('subscribe');
    const subscription = new PartitionedSubscription(this.#connection, this.#topology, this.options, request);
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      await subscription.close();
      throw error;
    }
    const close = subscription.close.bind(subscription);
    subscription.close = async () => {
      this.#subscriptions.delete(subscription);
      await close();
    };
    return subscription;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#publisher.close();
      await Promise.all([...this.#subscriptions].map((s) => s.close()));
      await this.#topology.close();
      await this.#connection.close();
    })();
    return this.#closing;
  }

  /** Test hook: drop the TCP connection as a network failure would; the transport reconnects. */
  dropConnection(): void {
    this.#connection.destroySocket();
  }

  #assertOpen(what: string): void {
    if (this.#closing) throw new ClosedError(`rabbitmq transport (${what})`);
  }
}

/** The factory the core loads for `amqp://` and `amqps://` URLs; connection events go to `options.logger`. */
export const createTransport: TransportFactory = (url, _text, options) =>
  new RabbitMqTransport(url, {}, options);
