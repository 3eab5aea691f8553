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
import { closeClient, createGroup, openClient, type RedisClient } from './connection.ts';
import { REDIS, toBrokerError } from './errors.ts';
import { TopicKeys } from './keys.ts';
import { parseRedisUrl, type RedisOptions } from './options.ts';
import { Publisher } from './publish.ts';
import { RedisSubscription } from './subscribe.ts';

/**
 * What Redis Streams promise through this adapter. A delivery's lease is its partition's lease
 * (`deliveryLeaseMs` = `leaseMs`): pending entries are taken over only by the next owner of that lease, and a
 * live instance renews its leases on a timer whatever its handlers do, so a long handler or backoff is never
 * claimed from under it; the core's keep-alive (`touch`) confirms the lease still holds before it acks.
 */
export function redisCapabilities(options: Pick<RedisOptions, 'maxMessageBytes' | 'leaseMs'>): Capabilities {
  return {
    consumerGroups: true,
    fanOut: true,
    orderedByKey: true,
    orderedByKeyAcrossInstances: true,
    persistent: true,
    deadLetter: true,
    crashRedelivery: true,
    maxMessageBytes: options.maxMessageBytes,
    deliveryLeaseMs: options.leaseMs,
  };
}

/**
 * What `createBus` calls for `redis://` and `rediss://` URLs (`text` keeps a cluster's host list);
 * connection losses and reconnections go to `options.logger`.
 */
export const createTransport: TransportFactory = (url, text, options) =>
  new RedisTransport(parseRedisUrl(text ?? url), options?.logger);

/**
 * For settings a URL cannot carry (TLS certificates):
 * `createBus({ transport: createRedisTransport('rediss://cache:6380', { tls: { ca } }, { logger }) })`.
 */
export function createRedisTransport(
  url: string | URL,
  overrides: Partial<RedisOptions> = {},
  options: TransportOptions = {},
): RedisTransport {
  return new RedisTransport(parseRedisUrl(url, overrides), options.logger);
}

/** One auto-pipelined connection (or cluster client) for publishing, leases and reads; see the README for the layout. */
export class RedisTransport implements Transport {
  readonly name = REDIS;
  readonly capabilities: Capabilities;
  readonly options: RedisOptions;
  readonly #logger: Logger;
  readonly #subscriptions = new Set<RedisSubscription>();
  #client: RedisClient | undefined;
  #publisher: Publisher | undefined;
  #connecting: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: RedisOptions, logger: Logger = silentLogger) {
    this.options = options;
    this.#logger = logger;
    this.capabilities = redisCapabilities(options);
  }

  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('redis transport'));
    this.#connecting ??= (async () => {
      const client = await openClient(this.options, 'main', this.#logger);
      this.#client = client;
      this.#publisher = new Publisher(client, this.options, this.capabilities);
    })().catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
    return this.#connecting;
  }

  /** The main connection's ioredis status: `ready` is up, `end` is down, anything else is on its way. */
  health(): TransportHealth {
    if (this.#closed) return { connection: 'down', detail: 'closed' };
    const status = this.#client?.status ?? 'connecting';
    const connection = status === 'ready' ? 'up' : status === 'end' ? 'down' : 'connecting';
    return { connection, detail: status };
  }

  publish(message: OutgoingMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('redis transport'));
    if (this.#publisher) return this.#publisher.publish(message);
    return this.connect().then(() => this.#publisher!.publish(message));
  }

  async publishBatch(messages: OutgoingMessage[]): Promise<PublishOutcome[]> {
    if (this.#closed) throw new ClosedError('redis transport');
    if (!this.#publisher) await this.connect();
    return this.#publisher!.publishBatch(messages);
  }

  /** Records the topic and its groups, and creates each group on every partition stream. */
  async provision(topic: string, groups: string[]): Promise<void> {
    if (this.#closed) throw new ClosedError('redis transport');
    await this.connect();
    const keys = await this.#publisher!.topic(topic, groups);
    const streams = Array.from({ length: this.options.partitions }, (_, p) => keys.stream(p));
    await Promise.all(
      groups.flatMap((group) =>
        streams.map((stream) => createGroup(this.#client!, this.options, stream, group)),
      ),
    );
  }

  /**
   * Per partition stream, the group's `lag` (entries not yet delivered to the group) plus its `pending`
   * (delivered, not acknowledged), as XINFO GROUPS reports them, summed over the partitions: the entries the
   * group has not acknowledged. Exact; one XINFO GROUPS per partition stream (auto-pipelined). `undefined`
   * when the group or a stream does not exist, or Redis cannot tell: before Redis 7 (no `lag` field), or
   * after entries were deleted by XDEL inside the group's unread range.
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#closed) throw new ClosedError('redis transport');
    await this.connect();
    const keys = new TopicKeys(this.options.prefix, topic);
    const streams = Array.from({ length: this.options.partitions }, (_, p) => keys.stream(p));
    let replies: unknown[];
    try {
      replies = await Promise.all(streams.map((stream) => this.#client!.xinfo('GROUPS', stream)));
    } catch (error) {
      if (/no such key/i.test((error as Error)?.message ?? '')) return undefined;
      throw toBrokerError(error, `reading the lag of group ${group} on ${topic}`, this.options);
    }
    let total = 0;
    for (const reply of replies) {
      const fields = groupFields(reply, group);
      const lag = fields?.get('lag');
      const pending = fields?.get('pending');
      if (typeof lag !== 'number' || typeof pending !== 'number') return undefined;
      total += lag + pending;
    }
    return total;
  }

  async subscribe(request: SubscribeRequest): Promise<TransportSubscription> {
    if (this.#closed) throw new ClosedError('redis transport');
    await this.connect();
    const keys = await this.#publisher!.topic(request.topic, [request.group]);
    const subscription = new RedisSubscription(this.#client!, this.options, keys, request, this.#logger);
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      await subscription.close();
      throw error;
    }
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
      await this.#connecting?.catch(() => {});
      await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
      await closeClient(this.#client);
    })();
    return this.#closed;
  }
}

/** One group's fields from an XINFO GROUPS reply (a list of flat name/value lists), or undefined. */
function groupFields(reply: unknown, group: string): Map<string, unknown> | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const entry of reply) {
    if (!Array.isArray(entry)) continue;
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
    if (String(fields.get('name')) === group) return fields;
  }
  return undefined;
}
