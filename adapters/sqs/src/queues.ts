import type { SQSClient, SQSClientConfig } from '@aws-sdk/client-sqs';
import { type Logger, silentLogger } from '@omnibus/core';
import { isQueueMissing, toBrokerError } from './errors.ts';
import { isTopicQueue, nameOfQueueUrl, queueName, topicQueuePrefix } from './naming.ts';
import type { SqsOptions } from './options.ts';

/** The commands the adapter uses, loaded with the SDK (the core never imports it). */
export type Sdk = typeof import('@aws-sdk/client-sqs');

/**
 * Bounds how many requests run at once; `run` waits for a free slot. `urgent` tasks (keep-alives, acks,
 * hand-backs) go before waiting publishes: a keep-alive stuck behind a burst of sends would let the
 * message's visibility run out and SQS deliver it again.
 */
export class Limiter {
  readonly #max: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  #urgentWaiting = 0;

  constructor(max: number) {
    this.#max = max;
  }

  async run<T>(task: () => Promise<T>, urgent = false): Promise<T> {
    if (this.#running >= this.#max) {
      await new Promise<void>((resolve) => {
        if (!urgent) this.#waiting.push(resolve);
        else
          this.#waiting.splice(this.#urgentWaiting++, 0, () => {
            this.#urgentWaiting--;
            resolve();
          });
      });
    }
    this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}

/**
 * The SDK client settings for these options: the endpoint, region and credentials of the URL, bounded
 * request times. (The benchmarks' raw client uses them too, so both sides talk to SQS alike.)
 */
export function sqsClientConfig(options: SqsOptions): SQSClientConfig {
  return {
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    // A local endpoint (ElasticMQ) checks no signature: placeholder credentials spare users the SDK's
    // credential chain (whose instance-metadata lookup takes seconds to give up off AWS).
    ...(options.credentials
      ? { credentials: { ...options.credentials } }
      : options.endpoint !== undefined
        ? { credentials: { accessKeyId: 'omnibus-local', secretAccessKey: 'omnibus-local' } }
        : {}),
    maxAttempts: 4,
    requestHandler: {
      connectionTimeout: Math.min(options.requestTimeoutMs, 10_000),
      requestTimeout: options.requestTimeoutMs + options.waitTimeSeconds * 1_000,
    },
  };
}

/** Opens the SDK client (loaded here, lazily: the core never imports it). */
export async function openClient(options: SqsOptions): Promise<{ client: SQSClient; sdk: Sdk }> {
  const sdk = await import('@aws-sdk/client-sqs');
  return { client: new sdk.SQSClient(sqsClientConfig(options)), sdk };
}

/** What the adapter knows about one queue. */
export interface QueueInfo {
  url: string;
  /** The queue's MaximumMessageSize: what one message may take, body and attributes, in bytes. */
  maxBytes: number;
}

const RETENTION_SECONDS = 1_209_600; // 14 days, the SQS maximum
/** What SQS allows since 2025 (1 MiB), for endpoints that do not report a queue's MaximumMessageSize. */
const FALLBACK_MAX_BYTES = 1_048_576;

/**
 * Creates and finds the queues of (topic, group) pairs, and lists a topic's groups for publishing.
 * A group's queue has a redrive policy to the queue of the topic's dead-letter topic (`<topic>.dlq`,
 * group `dead-letters`, which the core reads back), as a safety net behind the core's own dead-lettering.
 */
export class Queues {
  readonly #client: SQSClient;
  readonly #sdk: Sdk;
  readonly #options: SqsOptions;
  readonly #limiter: Limiter;
  readonly #logger: Logger;
  readonly #known = new Map<string, Promise<QueueInfo>>();
  readonly #topics = new Map<string, { at: number; queues: Promise<QueueInfo[]> }>();

  constructor(
    client: SQSClient,
    sdk: Sdk,
    options: SqsOptions,
    limiter: Limiter,
    logger: Logger = silentLogger,
  ) {
    this.#client = client;
    this.#sdk = sdk;
    this.#options = options;
    this.#limiter = limiter;
    this.#logger = logger;
  }

  /** Creates (or finds) the queue of `group` on `topic`; idempotent and shared by concurrent callers. */
  ensure(topic: string, group: string): Promise<QueueInfo> {
    const name = queueName(this.#options.prefix, topic, group, this.#options.fifo);
    let known = this.#known.get(name);
    if (!known) {
      known = this.#create(name, topic).catch((error: unknown) => {
        this.#known.delete(name);
        throw toBrokerError(
          error,
          `creating queue ${name} for group "${group}" of topic ${topic}`,
          this.#options,
        );
      });
      this.#known.set(name, known);
    }
    const created = known;
    // A publisher in this process sees the new group at once, whatever its cache holds.
    void created.then(
      (info) => this.#remember(topic, info),
      () => {},
    );
    return created;
  }

  /** Forgets a queue that turned out to be deleted (it is created again by the next `ensure`). */
  forget(topic: string, url: string): void {
    this.#known.delete(nameOfQueueUrl(url));
    this.#topics.delete(topic);
  }

  /**
   * Every group queue of `topic`, as ListQueues finds them by name prefix, cached for `discoveryTtlMs`
   * (`fresh` lists again). An empty answer is never trusted from the cache.
   */
  async ofTopic(topic: string, fresh = false): Promise<QueueInfo[]> {
    const cached = this.#topics.get(topic);
    if (!fresh && cached && Date.now() - cached.at < this.#options.discoveryTtlMs) {
      const queues = await cached.queues;
      if (queues.length > 0) return queues;
    }
    const entry = { at: Date.now(), queues: this.#list(topic) };
    this.#topics.set(topic, entry);
    entry.queues.catch(() => {
      if (this.#topics.get(topic) === entry) this.#topics.delete(topic);
    });
    return entry.queues;
  }

  /**
   * ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible of the group's queue: waiting, plus
   * received and not deleted (in flight). `undefined` when the queue does not exist. One GetQueueAttributes,
   * after a GetQueueUrl the first time.
   */
  async depth(topic: string, group: string): Promise<number | undefined> {
    const name = queueName(this.#options.prefix, topic, group, this.#options.fifo);
    const url = (await this.#known.get(name)?.catch(() => undefined))?.url ?? (await this.#url(name));
    if (!url) return undefined;
    let attributes: Record<string, string> | undefined;
    try {
      const answer = await this.#send(
        new this.#sdk.GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      attributes = answer.Attributes;
    } catch (error) {
      if (!isQueueMissing(error)) throw error;
      this.forget(topic, url);
      return undefined;
    }
    const visible = Number(attributes?.ApproximateNumberOfMessages);
    const inFlight = Number(attributes?.ApproximateNumberOfMessagesNotVisible);
    return Number.isFinite(visible) && Number.isFinite(inFlight) ? visible + inFlight : undefined;
  }

  /** Deletes the queues of the topic (the given groups and every one found by prefix); gone is done. */
  async deleteTopic(topic: string, groups: string[]): Promise<void> {
    const names = new Set(groups.map((g) => queueName(this.#options.prefix, topic, g, this.#options.fifo)));
    const urls = new Set((await this.#list(topic)).map((q) => q.url));
    for (const name of names) {
      const url = await this.#url(name);
      if (url) urls.add(url);
    }
    await Promise.all(
      [...urls].map((url) =>
        this.#send(new this.#sdk.DeleteQueueCommand({ QueueUrl: url })).catch((error: unknown) => {
          if (!isQueueMissing(error)) throw error;
        }),
      ),
    );
    for (const url of urls) this.#known.delete(nameOfQueueUrl(url));
    this.#topics.delete(topic);
  }

  #remember(topic: string, info: QueueInfo): void {
    const cached = this.#topics.get(topic);
    if (!cached) return;
    cached.queues = cached.queues.then((queues) =>
      queues.some((q) => q.url === info.url) ? queues : [...queues, info],
    );
  }

  async #create(name: string, topic: string): Promise<QueueInfo> {
    const attributes: Record<string, string> = {
      VisibilityTimeout: String(this.#options.visibilityTimeoutMs / 1_000),
      MessageRetentionPeriod: String(RETENTION_SECONDS),
    };
    if (this.#options.fifo) {
      attributes.FifoQueue = 'true';
      // High-throughput FIFO on AWS: limits apply per message group (key), not per queue.
      attributes.DeduplicationScope = 'messageGroup';
      attributes.FifoThroughputLimit = 'perMessageGroupId';
    }
    if (!topic.endsWith('.dlq')) {
      const target = await this.ensure(`${topic}.dlq`, 'dead-letters');
      const arn = await this.#attribute(target.url, 'QueueArn');
      if (arn) {
        attributes.RedrivePolicy = JSON.stringify({
          deadLetterTargetArn: arn,
          maxReceiveCount: String(this.#options.maxReceiveCount),
        });
      }
    }
    let url: string;
    try {
      const created = await this.#send(
        new this.#sdk.CreateQueueCommand({ QueueName: name, Attributes: attributes }),
      );
      url = created.QueueUrl!;
    } catch (error) {
      // Created earlier with other settings (another visibility timeout, say): use it as it is.
      const existing = /QueueNameExists|QueueAlreadyExists/.test(String((error as Error)?.name))
        ? await this.#url(name)
        : undefined;
      if (!existing) throw error;
      this.#logger.warn(
        { queue: name },
        '[omnibus] [sqs] queue exists with other settings; using it as it is',
      );
      url = existing;
    }
    return { url, maxBytes: Number(await this.#attribute(url, 'MaximumMessageSize')) || FALLBACK_MAX_BYTES };
  }

  async #list(topic: string): Promise<QueueInfo[]> {
    const prefix = topicQueuePrefix(this.#options.prefix, topic);
    const urls: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#send(
        new this.#sdk.ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 1000, NextToken: token }),
      );
      urls.push(...(page.QueueUrls ?? []));
      token = page.NextToken;
    } while (token);
    const mine = urls.filter((url) => isTopicQueue(nameOfQueueUrl(url), prefix, this.#options.fifo));
    return Promise.all(
      mine.map(async (url) => {
        const name = nameOfQueueUrl(url);
        const known = this.#known.get(name);
        if (known) return known;
        const info = this.#attribute(url, 'MaximumMessageSize').then((size) => ({
          url,
          maxBytes: Number(size) || FALLBACK_MAX_BYTES,
        }));
        this.#known.set(name, info);
        info.catch(() => this.#known.delete(name));
        return info;
      }),
    );
  }

  async #url(name: string): Promise<string | undefined> {
    try {
      return (await this.#send(new this.#sdk.GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    } catch (error) {
      if (isQueueMissing(error)) return undefined;
      throw error;
    }
  }

  async #attribute(url: string, name: 'QueueArn' | 'MaximumMessageSize'): Promise<string | undefined> {
    const answer = await this.#send(
      new this.#sdk.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [name] }),
    );
    return answer.Attributes?.[name];
  }

  #send: SQSClient['send'] = ((command: never) =>
    this.#limiter.run(() => this.#client.send(command))) as SQSClient['send'];
}
