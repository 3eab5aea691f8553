import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { type Logger, type SubscribeRequest, settleOnce, within } from '@omnibus/core';
import { Batcher } from './batcher.ts';
import { decodeMessage } from './codec.ts';
import { isQueueMissing, QueueMissingError, toBrokerError } from './errors.ts';
import type { SqsOptions } from './options.ts';
import type { Limiter, QueueInfo, Sdk } from './queues.ts';

const MAX_BACKOFF_MS = 10_000;
/**
 * How long close() waits beyond `waitTimeSeconds` for its open polls, and then for the acks and hand-backs
 * on their way, before it cuts them off: a broker that stopped answering (ElasticMQ leaves a request
 * unanswered for 21 s under load) must not hold a shutdown past its grace period.
 */
const CLOSE_GRACE_MS = 3_000;

/** A visibility change of one received message. */
interface VisibilityChange {
  handle: string;
  seconds: number;
}

/**
 * One group's consumer on one instance: `receivers` long polls (ReceiveMessage, up to 10 messages each)
 * while the core holds fewer than `maxInFlight` unsettled deliveries. A delivery's lease is its message's
 * visibility timeout: `touch` extends it (ChangeMessageVisibility), `ack` deletes the message
 * (DeleteMessageBatch), `release` makes it visible again at once (visibility 0). On a FIFO queue SQS gives
 * a message group (a key) to one consumer at a time, until its received messages are deleted or visible
 * again: that is what keeps a key's order across instances, with no partitions to assign.
 */
export class SqsSubscription {
  readonly #client: SQSClient;
  readonly #sdk: Sdk;
  readonly #queue: QueueInfo;
  readonly #request: SubscribeRequest;
  readonly #options: SqsOptions;
  readonly #limiter: Limiter;
  readonly #logger: Logger;
  readonly #abort = new AbortController();
  /** Aborts the requests close() stopped waiting for. */
  readonly #cut = new AbortController();
  readonly #deletes: Batcher<string>;
  readonly #visibility: Batcher<VisibilityChange>;
  readonly #waiters: (() => void)[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  #held = 0;
  /** Long polls open now, and the receivers resting while another one polls an empty queue. */
  #polling = 0;
  readonly #resting: (() => void)[] = [];
  #loops: Promise<void>[] = [];
  #stopped = false;
  #closed: Promise<void> | undefined;

  constructor(
    client: SQSClient,
    sdk: Sdk,
    queue: QueueInfo,
    request: SubscribeRequest,
    options: SqsOptions,
    limiter: Limiter,
    logger: Logger,
  ) {
    this.#client = client;
    this.#sdk = sdk;
    this.#queue = queue;
    this.#request = request;
    this.#options = options;
    this.#limiter = limiter;
    this.#logger = logger;
    this.#deletes = new Batcher((handles) => this.#deleteBatch(handles));
    this.#visibility = new Batcher((changes) => this.#visibilityBatch(changes));
  }

  start(): void {
    const receivers = Math.max(
      1,
      Math.min(this.#options.receivers, Math.ceil(this.#request.maxInFlight / 10)),
    );
    this.#loops = Array.from({ length: receivers }, () => this.#receiveLoop());
  }

  /**
   * Stops handing over deliveries at once; deliveries handed over can still be settled. Long polls on
   * their way are not cut short: aborting one closes only our side, the broker keeps it open until its
   * wait ends and gives it whatever becomes visible meanwhile (the next event of a key whose event was just
   * acked, an event handed back) — which would then stay invisible for a whole visibility timeout. Once
   * stopped, hand-backs (and the messages a poll brings after stop()) wait until the open polls answered.
   */
  stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#abort.abort(); // ends back-off sleeps, not polls
      for (const wake of this.#waiters.splice(0)) wake();
      for (const wake of this.#resting.splice(0)) wake();
    }
    return Promise.resolve();
  }

  /**
   * Stops, waits for the open long polls to answer (`waitTimeSeconds`) and then for the acks and hand-backs
   * asked for, each wait at most {@link CLOSE_GRACE_MS} longer: what the broker has not answered by then is
   * cut off, with a warning. Nothing is lost: a message a cut poll would have brought, or whose delete was
   * cut, is delivered again once its visibility timeout ends; one whose hand-back was cut, too.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.stop();
      const polls = Promise.all(this.#loops);
      if (!(await within(polls, this.#options.waitTimeSeconds * 1_000 + CLOSE_GRACE_MS))) {
        this.#logger.warn(
          { queue: this.#queue.url },
          `[omnibus] [sqs] closing: a long poll of ${this.#queue.url} was not answered within waitTimeSeconds + ${CLOSE_GRACE_MS} ms; cut off (a message it brings is delivered again after its visibility timeout)`,
        );
        this.#cut.abort();
      }
      await polls; // a receive loop that failed fails close(), as before
      const deadline = performance.now() + CLOSE_GRACE_MS;
      while (this.#pending.size > 0) {
        const left = deadline - performance.now();
        if (left <= 0 || !(await within(Promise.allSettled([...this.#pending]), left))) {
          this.#logger.warn(
            { queue: this.#queue.url, requests: this.#pending.size },
            `[omnibus] [sqs] closing: ${this.#pending.size} ack or hand-back request(s) to ${this.#queue.url} not answered within ${CLOSE_GRACE_MS} ms; cut off (their messages are delivered again after the visibility timeout)`,
          );
          this.#cut.abort();
          return;
        }
      }
    })();
    return this.#closed;
  }

  async #receiveLoop(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      const room = this.#request.maxInFlight - this.#held;
      if (room <= 0) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        continue;
      }
      const wanted = Math.min(10, room);
      this.#held += wanted; // reserved: other receivers see the room this poll may fill
      let messages: Message[];
      this.#polling++;
      try {
        const answer = await this.#client.send(
          new this.#sdk.ReceiveMessageCommand({
            QueueUrl: this.#queue.url,
            MaxNumberOfMessages: wanted,
            WaitTimeSeconds: this.#options.waitTimeSeconds,
            VisibilityTimeout: this.#options.visibilityTimeoutMs / 1_000,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.#cut.signal },
        );
        messages = answer.Messages ?? [];
        failures = 0;
      } catch (error) {
        this.#polling--;
        this.#held -= wanted;
        this.#wake();
        if (this.#stopped) return;
        if (isQueueMissing(error)) {
          this.#stopped = true;
          this.#request.onError(new QueueMissingError(this.#queue.url, 'receiving'));
          return;
        }
        failures++;
        const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 6));
        this.#logger.warn(
          { queue: this.#queue.url, retryInMs: delay },
          toBrokerError(error, 'receiving messages', this.#options).message,
        );
        await this.#sleep(delay);
        continue;
      }
      this.#polling--;
      this.#held -= wanted - messages.length;
      this.#wake();
      if (messages.length === 0 && this.#polling > 0 && !this.#stopped) {
        // An idle queue needs one open poll, not `receivers` of them (each poll is a billed request): this
        // receiver rests until a poll brings messages.
        await new Promise<void>((resolve) => this.#resting.push(resolve));
        continue;
      }
      if (messages.length > 0) for (const wake of this.#resting.splice(0)) wake();
      // The whole batch goes to the core at once, in order: the room was reserved, and a message held
      // here would not be kept alive (the core touches only what it holds) and would be delivered again.
      const accepted: Promise<void>[] = [];
      for (const message of messages) {
        if (this.#stopped) {
          // Received while stopping: handed straight back.
          this.#held--;
          this.#track(this.#handBack(message.ReceiptHandle!)).catch((error: Error) =>
            this.#logger.warn({ queue: this.#queue.url }, error.message),
          );
          continue;
        }
        accepted.push(this.#request.onDelivery(this.#delivery(message)));
      }
      await Promise.all(accepted);
    }
  }

  #delivery(message: Message) {
    const handle = message.ReceiptHandle!;
    const decoded = decodeMessage(message.Body, message.MessageAttributes);
    const count = Number(message.Attributes?.ApproximateReceiveCount);
    const seconds = this.#options.visibilityTimeoutMs / 1_000;
    // One message's visibility changes never cross: a hand-back waits for the touch on its way (a touch
    // the broker applied after the hand-back would hide the message for a whole visibility timeout), and
    // no touch goes out once the delivery is settled. A touch refused after settling (the delete or the
    // hand-back won the race, so the receipt handle is gone) is no lost lease.
    let done = false;
    let touching: Promise<void> | undefined;
    const settled = () => {
      done = true;
      this.#held--;
      this.#wake();
    };
    const touch = (): Promise<void> => {
      if (done) return Promise.resolve();
      const sent = this.#visibility.add({ handle, seconds }).catch((error: unknown) => {
        if (!done) throw error;
      });
      touching = sent;
      return sent;
    };
    return settleOnce(
      {
        ...decoded,
        ...(Number.isInteger(count) && count > 0 ? { deliveryCount: count } : {}),
        touch,
      },
      {
        ack: () => {
          settled();
          // Recorded once queued: the key's next event need not wait for the delete's round trip (the
          // batch goes out at once; close() waits for it). A delete SQS refuses means the message is
          // delivered again (at-least-once), which the log says.
          this.#track(this.#deletes.add(handle)).catch((error: Error) =>
            this.#logger.warn({ queue: this.#queue.url }, error.message),
          );
          return Promise.resolve();
        },
        release: () => {
          settled();
          const inFlight = touching?.catch(() => {});
          return this.#track(inFlight ? inFlight.then(() => this.#handBack(handle)) : this.#handBack(handle));
        },
      },
    );
  }

  /**
   * Visible again at once; once stopped, as soon as this subscription's open polls have answered — a
   * message handed back earlier would only be taken again by one of them, and handed back again.
   */
  async #handBack(handle: string): Promise<void> {
    if (this.#stopped) await Promise.all(this.#loops);
    await this.#visibility.add({ handle, seconds: 0 }).catch((error: unknown) => {
      // The handle no longer holds the message: it was received again (a retried request whose first try
      // the broker carried out but answered with an error, or its visibility ran out) or deleted. Nothing
      // is hidden under it, which is all a hand-back is for.
      if (error instanceof EntryRefused && HANDLE_GONE.test(error.code)) return;
      throw error;
    });
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    const untrack = () => this.#pending.delete(promise);
    promise.then(untrack, untrack);
    return promise;
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  #deleteBatch(handles: string[]): Promise<(Error | undefined)[]> {
    return this.#batchRequest(handles.length, 'deleting (acking)', () =>
      this.#client.send(
        new this.#sdk.DeleteMessageBatchCommand({
          QueueUrl: this.#queue.url,
          Entries: handles.map((handle, i) => ({ Id: String(i), ReceiptHandle: handle })),
        }),
        { abortSignal: this.#cut.signal },
      ),
    );
  }

  #visibilityBatch(changes: VisibilityChange[]): Promise<(Error | undefined)[]> {
    return this.#batchRequest(changes.length, 'changing the visibility of', () =>
      this.#client.send(
        new this.#sdk.ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.#queue.url,
          Entries: changes.map((change, i) => ({
            Id: String(i),
            ReceiptHandle: change.handle,
            VisibilityTimeout: change.seconds,
          })),
        }),
        { abortSignal: this.#cut.signal },
      ),
    );
  }

  /** One batch request ahead of queued publishes; one outcome per entry (`undefined` = done). */
  async #batchRequest(
    count: number,
    action: string,
    send: () => Promise<{ Failed?: { Id?: string; Code?: string; Message?: string }[] | undefined }>,
  ): Promise<(Error | undefined)[]> {
    try {
      const answer = await this.#limiter.run(send, true);
      return outcomes(count, answer.Failed, `${action} a message`);
    } catch (error) {
      throw toBrokerError(error, `${action} messages`, this.#options);
    }
  }
}

/** An entry of a batch request that SQS refused, with SQS's code for why. */
class EntryRefused extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** What SQS answers for a receipt handle that no longer holds its message in flight. */
const HANDLE_GONE = /ReceiptHandleIsInvalid|MessageNotInflight/;

function outcomes(
  count: number,
  failed: { Id?: string; Code?: string; Message?: string }[] | undefined,
  action: string,
): (Error | undefined)[] {
  const result: (Error | undefined)[] = new Array(count).fill(undefined);
  for (const f of failed ?? []) {
    const at = Number(f.Id);
    if (at >= 0 && at < count) {
      result[at] = new EntryRefused(
        `[omnibus] [sqs] ${action} was refused: ${f.Code ?? 'error'} ${f.Message ?? ''} (the message may already be visible again, and will then be delivered again)`.trim(),
        f.Code ?? '',
      );
    }
  }
  return result;
}
