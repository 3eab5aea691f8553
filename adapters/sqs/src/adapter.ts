import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  type Capabilities,
  ClosedError,
  type Logger,
  type OutgoingMessage,
  type PublishOutcome,
  type SubscribeRequest,
  silentLogger,
  type Transport,
  type TransportFactory,
  type TransportHealth,
  type TransportOptions,
  type TransportSubscription,
} from '@omnibus/core';
import { describeEndpoint, SQS, toBrokerError } from './errors.ts';
import { SqsHealth } from './health.ts';
import { parseSqsUrl, type SqsOptions } from './options.ts';
import { Publisher } from './publish.ts';
import { Limiter, openClient, Queues, type Sdk } from './queues.ts';
import { SqsSubscription } from './subscribe.ts';

/**
 * What SQS promises through this adapter. FIFO queues order a key's events across every instance (SQS
 * gives a message group to one consumer at a time); standard queues do not. A delivery's lease is its
 * message's visibility timeout, which the core extends while it holds the delivery.
 */
export function sqsCapabilities(
  options: Pick<SqsOptions, 'fifo' | 'maxMessageBytes' | 'visibilityTimeoutMs'>,
): Capabilities {
  return {
    consumerGroups: true,
    fanOut: true,
    orderedByKey: options.fifo,
    orderedByKeyAcrossInstances: options.fifo,
    persistent: true,
    deadLetter: true,
    crashRedelivery: true,
    maxMessageBytes: options.maxMessageBytes,
    deliveryLeaseMs: options.visibilityTimeoutMs,
  };
}

/** What `createBus` calls for `sqs://` URLs. */
export const createTransport: TransportFactory = (url, text, options) =>
  new SqsTransport(parseSqsUrl(text ?? url), options?.logger);

/** For settings in code: `createBus({ transport: createSqsTransport('sqs://?region=eu-west-1', { fifo: false }) })`. */
export function createSqsTransport(
  url: string | URL,
  overrides: Partial<SqsOptions> = {},
  options: TransportOptions = {},
): SqsTransport {
  return new SqsTransport(parseSqsUrl(url, overrides), options.logger);
}

/** One SQS client for publishing and every subscription; a queue per (topic, group); see the README. */
export class SqsTransport implements Transport {
  readonly name = SQS;
  readonly capabilities: Capabilities;
  readonly options: SqsOptions;
  readonly #logger: Logger;
  readonly #limiter: Limiter;
  readonly #subscriptions = new Set<SqsSubscription>();
  readonly #health: SqsHealth;
  #client: SQSClient | undefined;
  #sdk: Sdk | undefined;
  #queues: Queues | undefined;
  #publisher: Publisher | undefined;
  #connecting: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: SqsOptions, logger: Logger = silentLogger) {
    this.options = options;
    this.#logger = logger;
    this.#limiter = new Limiter(options.maxConcurrency);
    this.capabilities = sqsCapabilities(options);
    this.#health = new SqsHealth(describeEndpoint(options));
  }

  /**
   * The outcome of the latest request, as a middleware on the client's stack recorded it (see
   * {@link SqsHealth}): `up`, `connecting` while the endpoint cannot be reached, `down` while it refuses
   * the credentials or permissions, when `connect()` failed, and once closed. No request of its own.
   */
  health(): TransportHealth {
    return this.#health.health();
  }

  /** Opens the client and makes one request (ListQueues), so a wrong endpoint or credentials fail here. */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('sqs transport'));
    this.#connecting ??= (async () => {
      const { client, sdk } = await openClient(this.options);
      this.#health.watch(client);
      try {
        await client.send(
          new sdk.ListQueuesCommand({ QueueNamePrefix: `${this.options.prefix}-`, MaxResults: 1 }),
        );
      } catch (error) {
        client.destroy();
        const failure = toBrokerError(error, 'connecting', this.options);
        this.#health.connectFailed(`connecting failed on ${describeEndpoint(this.options)}`);
        throw failure;
      }
      this.#health.connected();
      this.#client = client;
      this.#sdk = sdk;
      this.#queues = new Queues(client, sdk, this.options, this.#limiter, this.#logger);
      this.#publisher = new Publisher(
        client,
        sdk,
        this.#queues,
        this.options,
        this.capabilities,
        this.#limiter,
        this.#logger,
      );
    })().catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
    return this.#connecting;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    if (this.#closed) throw new ClosedError('sqs transport');
    if (!this.#publisher) await this.connect();
    return this.#publisher!.publish(message);
  }

  async publishBatch(messages: OutgoingMessage[]): Promise<PublishOutcome[]> {
    if (this.#closed) throw new ClosedError('sqs transport');
    if (!this.#publisher) await this.connect();
    return this.#publisher!.publishBatch(messages);
  }

  /** Creates the queue of each group (and the topic's dead-letter queue its redrive policy points at). */
  async provision(topic: string, groups: string[]): Promise<void> {
    if (this.#closed) throw new ClosedError('sqs transport');
    await this.connect();
    await Promise.all(groups.map((group) => this.#queues!.ensure(topic, group)));
  }

  /**
   * ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible of the group's queue: events
   * waiting plus those received and not deleted yet (held by a consumer, or waiting out a visibility
   * timeout). Approximate, as SQS says: the counts lag behind sends and deletes (on AWS by up to a minute or
   * so), so read it as a trend. One GetQueueAttributes. `undefined` when the group's queue does not exist.
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#closed) throw new ClosedError('sqs transport');
    await this.connect();
    try {
      return await this.#queues!.depth(topic, group);
    } catch (error) {
      throw toBrokerError(
        error,
        `reading the queue depth of group "${group}" of topic ${topic}`,
        this.options,
      );
    }
  }

  async subscribe(request: SubscribeRequest): Promise<TransportSubscription> {
    if (this.#closed) throw new ClosedError('sqs transport');
    await this.connect();
    const queue = await this.#queues!.ensure(request.topic, request.group);
    const subscription = new SqsSubscription(
      this.#client!,
      this.#sdk!,
      queue,
      request,
      this.options,
      this.#limiter,
      this.#logger,
    );
    this.#subscriptions.add(subscription);
    subscription.start();
    return {
      stop: () => subscription.stop(),
      close: async () => {
        await subscription.close();
        this.#subscriptions.delete(subscription);
      },
    };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#health.close();
      await this.#connecting?.catch(() => {});
      await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
      this.#client?.destroy();
    })();
    return this.#closed;
  }
}
