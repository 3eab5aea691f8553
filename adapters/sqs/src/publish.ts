import type { SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import {
  assertPublishable,
  BrokerError,
  type Capabilities,
  type Logger,
  MessageTooLargeError,
  type OutgoingMessage,
  type PublishOutcome,
} from '@omnibus/core';
import { type EncodedMessage, encodeMessage } from './codec.ts';
import { isQueueMissing, SQS, toBrokerError } from './errors.ts';
import type { SqsOptions } from './options.ts';
import type { Limiter, QueueInfo, Queues, Sdk } from './queues.ts';

const BATCH_ENTRIES = 10;
/** SendMessageBatch requests on their way to one queue at once. */
const REQUESTS_PER_QUEUE = 8;

/**
 * Publishing: an event goes to the queue of every group of its topic (see {@link Queues.ofTopic}); it is
 * published once every queue stored it. A retried publish is stored once per FIFO queue (its
 * deduplication id is derived from its key and event id) and at least once on a standard queue.
 */
export class Publisher {
  readonly #client: SQSClient;
  readonly #sdk: Sdk;
  readonly #queues: Queues;
  readonly #options: SqsOptions;
  readonly #capabilities: Capabilities;
  readonly #limiter: Limiter;
  readonly #logger: Logger;
  readonly #pipelines = new Map<string, SendPipeline>();
  readonly #warned = new Set<string>();

  constructor(
    client: SQSClient,
    sdk: Sdk,
    queues: Queues,
    options: SqsOptions,
    capabilities: Capabilities,
    limiter: Limiter,
    logger: Logger,
  ) {
    this.#client = client;
    this.#sdk = sdk;
    this.#queues = queues;
    this.#options = options;
    this.#capabilities = capabilities;
    this.#limiter = limiter;
    this.#logger = logger;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    const [outcome] = await this.publishBatch([message]);
    if (outcome) throw outcome;
  }

  async publishBatch(messages: OutgoingMessage[]): Promise<PublishOutcome[]> {
    const outcomes: PublishOutcome[] = new Array(messages.length).fill(undefined);
    const byTopic = new Map<string, { index: number; encoded: EncodedMessage }[]>();
    messages.forEach((message, index) => {
      try {
        assertPublishable(message, this.#capabilities, SQS);
        const list = byTopic.get(message.topic) ?? [];
        list.push({ index, encoded: encodeMessage(message, this.#options.fifo) });
        byTopic.set(message.topic, list);
      } catch (error) {
        outcomes[index] = error as Error;
      }
    });
    await Promise.all(
      [...byTopic].map(async ([topic, list]) => {
        let queues: QueueInfo[];
        try {
          queues = await this.#queues.ofTopic(topic);
        } catch (error) {
          const failure = toBrokerError(error, `finding the group queues of topic ${topic}`, this.#options);
          for (const { index } of list) outcomes[index] = failure;
          return;
        }
        const kept = new Array<number>(messages.length).fill(0);
        await Promise.all(
          queues.flatMap((queue) =>
            list.map(({ index, encoded }) =>
              this.#pipeline(topic, queue)
                .add(encoded, messages[index]!)
                .then(
                  () => {
                    kept[index]!++;
                  },
                  (error: Error) => {
                    if (error !== QUEUE_GONE) outcomes[index] ??= error;
                  },
                ),
            ),
          ),
        );
        for (const { index } of list) {
          if (outcomes[index] || kept[index]! > 0) continue;
          if (this.#options.unroutable === 'error') outcomes[index] = unroutable(topic);
          else this.#warnOnce(topic);
        }
      }),
    );
    return outcomes;
  }

  #pipeline(topic: string, queue: QueueInfo): SendPipeline {
    let pipeline = this.#pipelines.get(queue.url);
    if (!pipeline) {
      pipeline = new SendPipeline(
        topic,
        queue,
        (entries) => this.#send(topic, queue, entries),
        this.#options.fifo,
      );
      this.#pipelines.set(queue.url, pipeline);
    }
    return pipeline;
  }

  /**
   * One SendMessageBatch; one outcome per entry. A deleted queue (its group is gone) takes nothing and
   * answers {@link QUEUE_GONE}: the event fails only if no queue of the topic kept it.
   */
  async #send(topic: string, queue: QueueInfo, entries: EncodedMessage[]): Promise<(Error | undefined)[]> {
    try {
      const answer = await this.#limiter.run(() =>
        this.#client.send(
          new this.#sdk.SendMessageBatchCommand({
            QueueUrl: queue.url,
            Entries: entries.map(
              ({ bytes: _bytes, ...fields }, i): SendMessageBatchRequestEntry => ({
                Id: String(i),
                ...fields,
              }),
            ),
          }),
        ),
      );
      const outcomes: (Error | undefined)[] = new Array(entries.length).fill(undefined);
      for (const failed of answer.Failed ?? []) {
        const at = Number(failed.Id);
        if (at >= 0 && at < entries.length) {
          outcomes[at] = new BrokerError(
            `[omnibus] [sqs] the queue refused an event of topic ${topic}: ${failed.Code ?? 'error'} ${failed.Message ?? ''}`.trim(),
          );
        }
      }
      return outcomes;
    } catch (error) {
      if (isQueueMissing(error)) {
        // The group was deleted since the list was made: it wants no more events.
        this.#queues.forget(topic, queue.url);
        this.#pipelines.delete(queue.url);
        return entries.map(() => QUEUE_GONE);
      }
      const failure = toBrokerError(error, `publishing to topic ${topic}`, this.#options);
      return entries.map(() => failure);
    }
  }

  #warnOnce(topic: string): void {
    if (this.#warned.has(topic)) return;
    this.#warned.add(topic);
    this.#logger.warn(
      { topic },
      '[omnibus] [sqs] topic has no group queue: its events are kept for no one (unroutable=drop; provision the topic with its groups first)',
    );
  }
}

/** What a deleted group queue answers a send: not a failure of the event, but not a copy kept either. */
const QUEUE_GONE = new Error('[omnibus] [sqs] the group queue was deleted');

function unroutable(topic: string): BrokerError {
  return new BrokerError(
    `[omnibus] [sqs] topic ${topic} has no group queue, so the event was not kept — provision("${topic}", groups) or subscribe before publishing, or set unroutable=drop`,
  );
}

interface Pending {
  encoded: EncodedMessage;
  message: OutgoingMessage;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The sends to one queue. Publishes made in the same turn of the event loop (and while earlier requests
 * are on their way) share SendMessageBatch requests of up to 10 entries within the queue's size limit, a
 * few requests at once. On a FIFO queue a key has one request on its way at a time and its messages go in
 * the order they were published; when one fails, the later ones of its key waiting here fail too (sending
 * them would break the key's order). Within one request SQS may refuse one entry and store a later one of
 * the same key; entries are checked (size, attribute text) before sending, so only a fault inside SQS can
 * do that.
 */
class SendPipeline {
  readonly #topic: string;
  readonly #queue: QueueInfo;
  readonly #send: (entries: EncodedMessage[]) => Promise<(Error | undefined)[]>;
  readonly #fifo: boolean;
  #waiting: Pending[] = [];
  readonly #busyGroups = new Set<string>();
  #requests = 0;
  #scheduled = false;

  constructor(
    topic: string,
    queue: QueueInfo,
    send: (entries: EncodedMessage[]) => Promise<(Error | undefined)[]>,
    fifo: boolean,
  ) {
    this.#topic = topic;
    this.#queue = queue;
    this.#send = send;
    this.#fifo = fifo;
  }

  add(encoded: EncodedMessage, message: OutgoingMessage): Promise<void> {
    if (encoded.bytes > this.#queue.maxBytes) {
      return Promise.reject(
        new MessageTooLargeError(
          message.headers.ce_type ?? this.#topic,
          encoded.bytes,
          this.#queue.maxBytes,
          `${SQS} queue (its MaximumMessageSize; base64 body and attributes counted)`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ encoded, message, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#pump();
        });
      }
    });
  }

  #pump(): void {
    while (this.#requests < REQUESTS_PER_QUEUE && this.#waiting.length > 0) {
      const batch = this.#take();
      if (batch.length === 0) return;
      this.#requests++;
      const groups = this.#fifo ? batch.map((p) => p.encoded.MessageGroupId!) : [];
      for (const group of groups) this.#busyGroups.add(group);
      this.#send(batch.map((p) => p.encoded))
        .then(
          (outcomes) => outcomes,
          (error: Error) => batch.map(() => error),
        )
        .then((outcomes) => {
          this.#requests--;
          for (const group of groups) this.#busyGroups.delete(group);
          batch.forEach((pending, i) => {
            const outcome = outcomes[i];
            if (!outcome) pending.resolve();
            else if (outcome === QUEUE_GONE) pending.reject(outcome);
            else {
              pending.reject(outcome);
              if (this.#fifo) this.#failLater(pending.encoded.MessageGroupId!);
            }
          });
          this.#pump();
        });
    }
  }

  /**
   * The next request's entries, in publish order: none of a key with a request on its way, and none of a
   * key after one of its messages that did not fit (SQS stores a FIFO batch's messages in entry order).
   */
  #take(): Pending[] {
    const batch: Pending[] = [];
    const skipped = new Set<string>();
    let bytes = 0;
    const rest: Pending[] = [];
    for (const pending of this.#waiting) {
      const group = this.#fifo ? pending.encoded.MessageGroupId! : undefined;
      const fits =
        batch.length < BATCH_ENTRIES &&
        (batch.length === 0 || bytes + pending.encoded.bytes <= this.#queue.maxBytes) &&
        (group === undefined || (!this.#busyGroups.has(group) && !skipped.has(group)));
      if (fits) {
        batch.push(pending);
        bytes += pending.encoded.bytes;
      } else {
        rest.push(pending);
        if (group !== undefined) skipped.add(group);
      }
    }
    this.#waiting = rest;
    return batch;
  }

  #failLater(group: string): void {
    const failure = new BrokerError(
      `[omnibus] [sqs] not sent to ${this.#topic}: an earlier event of its key was refused, and sending this one would break the key's order`,
    );
    this.#waiting = this.#waiting.filter((pending) => {
      if (pending.encoded.MessageGroupId !== group) return true;
      pending.reject(failure);
      return false;
    });
  }
}
