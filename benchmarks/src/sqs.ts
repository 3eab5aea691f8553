import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ListQueuesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { OutgoingMessage } from '@omnibus/core';
import type { SqsOptions } from '@omnibus/sqs';
// The adapter's own client settings, so the raw side talks to SQS exactly as the SDK side does.
import { sqsClientConfig } from '../../adapters/sqs/src/queues.ts';
import { ArrivalClock, now, perSecond, runWindowed, withTimeout } from './stats.ts';

/**
 * The raw @aws-sdk/client-sqs side, on the layout the omnibus adapter uses: one FIFO queue (created with
 * the adapter's attributes), messages with the same fields (base64 Avro body, each CloudEvents header a
 * `String` message attribute, the key and header order packed in JSON in the `omnibus` attribute),
 * MessageGroupId = the event's key, sent with SendMessageBatch of 10, read with long-polled
 * ReceiveMessage of up to 10 and acknowledged with DeleteMessageBatch.
 *
 * Like the adapter, it keeps each key's order: a batch waits for the earlier batches holding one of its
 * keys (SQS orders a message group by arrival, so two requests with one key on their way at once could
 * store its messages out of order). The MessageDeduplicationId is fresh per message: the raw side sends
 * the SDK's encoded message, event id included, `count` times, and deduplication by content or by event id
 * would keep one of them.
 */
export interface RawSqsSettings {
  /** SendMessageBatch requests (10 entries each) on their way at once. */
  requests: number;
  /** ReceiveMessage calls open at once. */
  receivers: number;
  /** Long-poll wait of each ReceiveMessage, seconds. */
  waitTimeSeconds: number;
  /** Visibility timeout of the queue and of each receive, seconds. */
  visibilitySeconds: number;
  timeoutMs: number;
}

/** What the raw consumer asks for and does with each message. */
export interface RawSqsRead {
  /** Every message attribute and the receive count (the adapter's layout); none when false. */
  attributes: boolean;
  /** Called with each message body (raw JSON: `JSON.parse`); bodies are only counted without it. */
  body?: (body: string) => void;
}

/** Entries per SendMessageBatch / DeleteMessageBatch and messages per ReceiveMessage: the SQS maximum. */
export const SQS_BATCH = 10;

const RETENTION_SECONDS = '1209600';

/**
 * Body and attributes as the adapter sends an event with these headers (at most 9, each SQS text) and
 * `key`: every header a `String` attribute, and `omnibus` = `{"k":key,"o":[header names in order]}`.
 */
export function sqsFields(
  message: OutgoingMessage,
  key: string | undefined,
): { MessageBody: string; MessageAttributes: Record<string, MessageAttributeValue> } {
  const names = Object.keys(message.headers);
  if (names.length > 9) throw new Error('raw sqs: the benchmark event has at most 9 headers');
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const name of names) attributes[name] = { DataType: 'String', StringValue: message.headers[name]! };
  if (key !== undefined) {
    attributes.omnibus = {
      DataType: 'String',
      StringValue: JSON.stringify({ k: key, ...(names.length > 1 ? { o: names } : {}) }),
    };
  }
  return {
    MessageBody: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString(
      'base64',
    ),
    MessageAttributes: attributes,
  };
}

export class RawSqs {
  readonly #client: SQSClient;
  #sequence = 0;

  private constructor(client: SQSClient) {
    this.#client = client;
  }

  /** Opens a client and lists queues once, so an endpoint that does not answer fails here. */
  static async connect(options: SqsOptions): Promise<RawSqs> {
    const client = new SQSClient(sqsClientConfig(options));
    try {
      await client.send(new ListQueuesCommand({ MaxResults: 1 }));
    } catch (error) {
      client.destroy();
      throw error;
    }
    return new RawSqs(client);
  }

  /** A FIFO queue with the attributes the adapter gives its group queues (no redrive policy); its URL. */
  async createQueue(name: string, visibilitySeconds: number): Promise<string> {
    const created = await this.#client.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          FifoQueue: 'true',
          DeduplicationScope: 'messageGroup',
          FifoThroughputLimit: 'perMessageGroupId',
          VisibilityTimeout: String(visibilitySeconds),
          MessageRetentionPeriod: RETENTION_SECONDS,
        },
      }),
    );
    return created.QueueUrl!;
  }

  async deleteQueue(url: string): Promise<void> {
    await this.#client.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {});
  }

  /**
   * `count` copies of `message`, the `i`-th with key `key(i)`, in SendMessageBatch requests of 10
   * consecutive messages, at most `requests` on their way and none while an earlier request holding one
   * of its keys is; msg/s from the first request to the last answer.
   */
  async publish(
    url: string,
    message: OutgoingMessage,
    key: (index: number) => string,
    count: number,
    s: RawSqsSettings,
  ): Promise<number> {
    const fields = new Map<string, ReturnType<typeof sqsFields>>();
    for (let i = 0; i < count; i++) if (!fields.has(key(i))) fields.set(key(i), sqsFields(message, key(i)));
    return this.publishEntries(url, (i) => fields.get(key(i))!, key, count, s);
  }

  /**
   * `count` messages, the `i`-th with the body (and attributes) `fields(i)` and key `key(i)`, sent as
   * {@link publish} sends them; msg/s from the first request to the last answer.
   */
  async publishEntries(
    url: string,
    fields: (index: number) => {
      MessageBody: string;
      MessageAttributes?: Record<string, MessageAttributeValue>;
    },
    key: (index: number) => string,
    count: number,
    s: RawSqsSettings,
  ): Promise<number> {
    /** The last request holding each key. */
    const lastOfKey = new Map<string, Promise<unknown>>();
    const batches = Math.ceil(count / SQS_BATCH);
    const dedup = `raw-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const start = now();
    await withTimeout(
      runWindowed(batches, s.requests, (b) => {
        const n = Math.min(SQS_BATCH, count - b * SQS_BATCH);
        const entries: SendMessageBatchRequestEntry[] = [];
        const earlier = new Set<Promise<unknown>>();
        for (let i = 0; i < n; i++) {
          const k = key(b * SQS_BATCH + i);
          const before = lastOfKey.get(k);
          if (before) earlier.add(before);
          entries.push({
            Id: String(i),
            ...fields(b * SQS_BATCH + i),
            MessageGroupId: k,
            MessageDeduplicationId: `${dedup}-${(this.#sequence++).toString(36)}`,
          });
        }
        const request = Promise.all(earlier).then(async () => {
          const answer = await this.#client.send(
            new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }),
          );
          const failed = answer.Failed?.[0];
          if (failed)
            throw new Error(`raw sqs: SendMessageBatch refused an entry: ${failed.Code} ${failed.Message}`);
        });
        for (const entry of entries) lastOfKey.set(entry.MessageGroupId!, request);
        return request;
      }),
      s.timeoutMs,
      `raw sqs publish to ${url} timed out`,
    );
    return perSecond(count, now() - start);
  }

  /**
   * `receivers` loops of ReceiveMessage (up to 10, long poll, every attribute) until `count` messages
   * arrived, each batch acknowledged with one DeleteMessageBatch without waiting for it; msg/s from the
   * first receive to the `count`-th message. Open long polls are cut short at the end.
   */
  async consume(
    url: string,
    count: number,
    s: RawSqsSettings,
    read: RawSqsRead = { attributes: true },
  ): Promise<number> {
    const clock = new ArrivalClock(count);
    const abort = new AbortController();
    const deletes = new Set<Promise<unknown>>();
    let failure: unknown;
    const loop = async () => {
      while (clock.count < count && !abort.signal.aborted) {
        let messages: Message[];
        try {
          const answer = await this.#client.send(
            new ReceiveMessageCommand({
              QueueUrl: url,
              MaxNumberOfMessages: SQS_BATCH,
              WaitTimeSeconds: s.waitTimeSeconds,
              VisibilityTimeout: s.visibilitySeconds,
              ...(read.attributes
                ? { MessageSystemAttributeNames: ['ApproximateReceiveCount'], MessageAttributeNames: ['All'] }
                : {}),
            }),
            { abortSignal: abort.signal },
          );
          messages = answer.Messages ?? [];
        } catch (error) {
          if (abort.signal.aborted) return;
          throw error;
        }
        if (messages.length === 0) continue;
        if (read.body) for (const m of messages) read.body(m.Body ?? '');
        const deletion = this.#client
          .send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          )
          .then((answer) => {
            if (answer.Failed?.length)
              failure ??= new Error(`raw sqs: ${answer.Failed.length} deletes refused`);
          });
        deletes.add(deletion);
        deletion.then(
          () => deletes.delete(deletion),
          (error: unknown) => {
            failure ??= error;
            deletes.delete(deletion);
          },
        );
        clock.tick(messages.length);
      }
    };
    clock.start();
    const loops = Array.from({ length: s.receivers }, loop);
    try {
      await withTimeout(
        Promise.race([clock.done, Promise.all(loops)]).then(() => clock.done),
        s.timeoutMs,
        `raw sqs consumer got ${clock.count} of ${count} messages from ${url} within ${s.timeoutMs} ms`,
      );
    } finally {
      abort.abort();
      await Promise.allSettled(loops);
      await Promise.allSettled([...deletes]);
    }
    if (failure) throw failure;
    return clock.rate();
  }

  close(): void {
    this.#client.destroy();
  }
}
