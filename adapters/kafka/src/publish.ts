import type { OutgoingMessage } from '@omnibus/core';
import type { Message, Producer, TopicMessages } from 'kafkajs';

interface Pending {
  message: OutgoingMessage;
  bytes: number;
  /** Epoch ms by which it must be stored, else it fails (`publishTimeoutMs` after the call). */
  deadline: number;
  timer: NodeJS.Timeout;
  settled: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

export interface BatchLimits {
  lingerMs: number;
  maxBatchMessages: number;
  maxBatchBytes: number;
  publishTimeoutMs: number;
}

/** Sends one batch, trying again until `deadline` (epoch ms) while the broker cannot take it. */
export type SendBatch = (messages: OutgoingMessage[], deadline: number) => Promise<void>;
/** The error of a publish not stored within `publishTimeoutMs`; `sent`: a request carrying it was on its way. */
export type TimeoutError = (message: OutgoingMessage, sent: boolean) => Error;

/**
 * Coalesces concurrent publishes into one produce request. kafkajs sends one request per `send()` and
 * has no linger of its own, so one awaited request per event would cap throughput at one round trip per
 * event. Here publishes queue while a request is on the wire and go out together in the next
 * `sendBatch`; each publish settles with the request that carried it. Queue order is publish order,
 * and one request is in flight at a time, so per-key (per-partition) order is kept.
 *
 * Each publish fails once `publishTimeoutMs` has passed since the call without the broker storing it: the
 * batch carrying it is tried again until the latest deadline among its publishes, so a broker restart
 * shorter than that is waited out.
 */
export class PublishBatcher {
  readonly #send: SendBatch;
  readonly #limits: BatchLimits;
  readonly #timeoutError: TimeoutError;
  #queue: Pending[] = [];
  #draining: Promise<void> | undefined;
  /** Number of produce requests sent so far (tests read it to prove that batching happens). */
  requests = 0;

  constructor(send: SendBatch, limits: BatchLimits, timeoutError: TimeoutError) {
    this.#send = send;
    this.#limits = limits;
    this.#timeoutError = timeoutError;
  }

  publish(message: OutgoingMessage, bytes: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.#limits.publishTimeoutMs;
      const pending: Pending = {
        message,
        bytes,
        deadline: Date.now() + timeoutMs,
        timer: setTimeout(() => this.#expire(pending), timeoutMs),
        settled: false,
        resolve,
        reject,
      };
      this.#queue.push(pending);
      this.#draining ??= this.#drain();
    });
  }

  /** Resolves once every publish queued so far has been sent (or failed). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #drain(): Promise<void> {
    try {
      // Let publishes issued in the same turn (a loop of un-awaited publishes) join the first request.
      await new Promise<void>((resolve) =>
        this.#limits.lingerMs > 0 ? setTimeout(resolve, this.#limits.lingerMs) : setImmediate(resolve),
      );
      while (this.#queue.length > 0) {
        const batch = this.#take();
        this.requests++;
        const deadline = Math.max(...batch.map((p) => p.deadline));
        try {
          await this.#send(
            batch.map((p) => p.message),
            deadline,
          );
          for (const p of batch) this.#settle(p);
        } catch (error) {
          for (const p of batch) this.#settle(p, error);
        }
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** Its time is up: out of the queue if still there (nothing was sent), failed either way. */
  #expire(pending: Pending): void {
    if (pending.settled) return;
    const queued = this.#queue.indexOf(pending);
    if (queued >= 0) this.#queue.splice(queued, 1);
    this.#settle(pending, this.#timeoutError(pending.message, queued < 0));
  }

  #settle(pending: Pending, error?: unknown): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    if (error === undefined) pending.resolve();
    else pending.reject(error);
  }

  /** The head of the queue up to the message and byte limits; always at least one message. */
  #take(): Pending[] {
    let bytes = 0;
    let count = 0;
    for (const p of this.#queue) {
      if (
        count > 0 &&
        (count >= this.#limits.maxBatchMessages || bytes + p.bytes > this.#limits.maxBatchBytes)
      )
        break;
      bytes += p.bytes;
      count++;
    }
    return this.#queue.splice(0, count);
  }
}

/** Groups messages by topic (keeping their order) in the shape `producer.sendBatch` takes. */
export function toTopicMessages(messages: OutgoingMessage[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const m of messages) {
    let list = byTopic.get(m.topic);
    if (!list) {
      list = [];
      byTopic.set(m.topic, list);
    }
    list.push({
      key: m.key ?? null,
      value: Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength),
      headers: m.headers,
    });
  }
  return [...byTopic].map(([topic, list]) => ({ topic, messages: list }));
}

/** Sends one coalesced batch with acks=all; the producer is idempotent, so its retries add no duplicates. */
export async function sendBatch(
  producer: Producer,
  messages: OutgoingMessage[],
  timeoutMs: number,
): Promise<void> {
  await producer.sendBatch({ topicMessages: toTopicMessages(messages), acks: -1, timeout: timeoutMs });
}
