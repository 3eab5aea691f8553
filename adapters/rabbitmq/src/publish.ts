import {
  DEAD_LETTER_HEADROOM_BYTES,
  encodedSize,
  MessageTooLargeError,
  type OutgoingMessage,
} from '@omnibus/core';
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { brokerError, type ConnectionManager, closeQuietly } from './connection.ts';
import { toAmqpProperties } from './headers.ts';
import type { RabbitMqOptions } from './options.ts';
import { exchangeName, partitionOf, type Topology } from './topology.ts';

interface Pending {
  seq: number;
  topic: string;
  routingKey: string;
  content: Buffer;
  properties: Options.Publish & { messageId: string };
  state: 'queued' | 'sent' | 'done';
  /** The broker sent it back (basic.return): no queue was bound for its routing key. */
  returned: boolean;
  timer: NodeJS.Timeout;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Publishes through one confirm channel with a window of outstanding confirms. A publish resolves on
 * the broker's ack, rejects on its nack or when the topic has no queue (`unroutable=error`), and is
 * re-sent on the next channel when the channel or connection dies before the confirm arrived
 * (at-least-once), until `publishTimeoutMs` has passed.
 */
export class Publisher {
  readonly #connection: ConnectionManager;
  readonly #topology: Topology;
  readonly #options: RabbitMqOptions;
  #channel: ConfirmChannel | undefined;
  #opening = false;
  #queue: Pending[] = [];
  #outstanding = 0;
  #draining = false;
  #seq = 0;
  #spread = 0;
  #unsettled = 0;
  #idle: Array<() => void> = [];
  /** Sent, unconfirmed publishes by message id, to match a basic.return with its publish. */
  #sent = new Map<string, Pending[]>();

  constructor(connection: ConnectionManager, topology: Topology, options: RabbitMqOptions) {
    this.#connection = connection;
    this.#topology = topology;
    this.#options = options;
    connection.onReconnected(() => this.#pump());
  }

  async publish(message: OutgoingMessage): Promise<void> {
    const size = encodedSize(message.body, message.headers);
    // Events stop at maxMessageBytes (the bus checks); dead letters may use the headroom above it.
    const limit = this.#options.maxMessageBytes + DEAD_LETTER_HEADROOM_BYTES;
    if (size > limit) {
      throw new MessageTooLargeError(message.headers.ce_type ?? message.topic, size, limit, 'rabbitmq');
    }
    const deadline = Date.now() + this.#options.publishTimeoutMs;
    const properties = toAmqpProperties(message.headers, message.key);
    const partitions = this.#options.partitions;
    const partition =
      message.key === undefined ? this.#spread++ % partitions : partitionOf(message.key, partitions);
    const content = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    // Every publish awaits this (resolved or not), so concurrent publishes keep their call order.
    await this.#topology.ensureExchange(message.topic, deadline);
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        seq: this.#seq++,
        topic: message.topic,
        routingKey: String(partition),
        content,
        properties: properties as Pending['properties'],
        state: 'queued',
        returned: false,
        timer: setTimeout(() => this.#timeout(pending), Math.max(1, deadline - Date.now())),
        resolve,
        reject,
      };
      this.#unsettled++;
      this.#queue.push(pending);
      this.#pump();
    });
  }

  /** Resolves once every publish made so far is settled (confirmed, failed or timed out). */
  async flush(): Promise<void> {
    if (this.#unsettled === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    const channel = this.#channel;
    this.#channel = undefined;
    await closeQuietly(channel);
  }

  #pump(): void {
    const channel = this.#channel;
    if (!channel) {
      if (this.#queue.length > 0) void this.#openChannel();
      return;
    }
    while (!this.#draining && this.#outstanding < this.#options.confirmWindow && this.#queue.length > 0) {
      const pending = this.#queue.shift()!;
      if (pending.state === 'done') continue;
      let writable: boolean;
      try {
        writable = channel.publish(
          exchangeName(pending.topic),
          pending.routingKey,
          pending.content,
          pending.properties,
          (error: Error | null) => this.#confirmed(pending, channel, error),
        );
      } catch (error) {
        if (error instanceof RangeError) {
          // amqplib refuses header tables over 64 KiB before sending anything.
          this.#settle(
            pending,
            brokerError(this.#connection.target, `cannot publish to ${pending.topic}`, error),
          );
          continue;
        }
        this.#requeue(pending); // the channel is closing: the next one sends it
        return;
      }
      pending.state = 'sent';
      this.#outstanding++;
      const sameId = this.#sent.get(pending.properties.messageId);
      if (sameId) sameId.push(pending);
      else this.#sent.set(pending.properties.messageId, [pending]);
      if (!writable) {
        this.#draining = true;
        channel.once('drain', () => {
          if (this.#channel !== channel) return;
          this.#draining = false;
          this.#pump();
        });
      }
    }
  }

  async #openChannel(): Promise<void> {
    const model = this.#connection.current;
    if (this.#opening || !model) return; // no connection: onReconnected pumps again
    this.#opening = true;
    try {
      const channel = await this.#connection.createConfirmChannel(model);
      let closeCode: number | undefined;
      channel.on('error', (error: { code?: number }) => {
        closeCode = error.code;
      });
      channel.on('return', (message: Message) => this.#returned(message));
      channel.on('close', () => {
        if (this.#channel !== channel) return;
        this.#channel = undefined;
        this.#outstanding = 0;
        this.#draining = false;
        // 404: an exchange was deleted under us; declare again before the retries go out.
        if (closeCode === 404) this.#topology.reset();
        setTimeout(() => void this.#redeclareThenPump(), closeCode === undefined ? 0 : 100);
      });
      this.#channel = channel;
    } catch {
      setTimeout(() => this.#pump(), 200);
    } finally {
      this.#opening = false;
    }
    this.#pump();
  }

  async #redeclareThenPump(): Promise<void> {
    const topics = new Set(this.#queue.filter((p) => p.state === 'queued').map((p) => p.topic));
    const deadline = Date.now() + this.#options.publishTimeoutMs;
    await Promise.all(
      [...topics].map((topic) => this.#topology.ensureExchange(topic, deadline).catch(() => {})),
    );
    this.#pump();
  }

  #confirmed(pending: Pending, channel: ConfirmChannel, error: Error | null): void {
    if (this.#channel === channel) this.#outstanding--;
    const sameId = this.#sent.get(pending.properties.messageId);
    if (sameId) {
      const rest = sameId.filter((p) => p !== pending);
      if (rest.length > 0) this.#sent.set(pending.properties.messageId, rest);
      else this.#sent.delete(pending.properties.messageId);
    }
    if (pending.state !== 'done') {
      const target = this.#connection.target;
      if (!error) {
        if (pending.returned && this.#options.unroutable === 'error') {
          const what = `no queue is bound to exchange "${exchangeName(pending.topic)}" for routing key ${pending.routingKey}, so the event was not kept`;
          this.#settle(
            pending,
            brokerError(
              target,
              what,
              undefined,
              `provision("${pending.topic}", groups) or subscribe before publishing, or set unroutable=drop`,
            ),
          );
        } else {
          this.#settle(pending);
        }
      } else if (error.message === 'message nacked') {
        this.#settle(
          pending,
          brokerError(
            target,
            `the broker refused (nacked) a message for ${pending.topic}`,
            error,
            'check the broker log (disk/memory alarms, queue limits)',
          ),
        );
      } else {
        this.#requeue(pending); // the channel died before the confirm: send again on the next one
      }
    }
    this.#pump();
  }

  #returned(message: Message): void {
    const id = message.properties.messageId;
    const pending = typeof id === 'string' ? this.#sent.get(id)?.find((p) => !p.returned) : undefined;
    if (pending) pending.returned = true;
  }

  #requeue(pending: Pending): void {
    pending.state = 'queued';
    pending.returned = false;
    const at = this.#queue.findIndex((p) => p.seq > pending.seq);
    if (at === -1) this.#queue.push(pending);
    else this.#queue.splice(at, 0, pending);
  }

  #timeout(pending: Pending): void {
    if (pending.state === 'done') return;
    const sent = pending.state === 'sent';
    if (!sent) this.#queue = this.#queue.filter((p) => p !== pending);
    const what = sent
      ? `a publish to ${pending.topic} was not confirmed within ${this.#options.publishTimeoutMs} ms (it may still arrive)`
      : `a publish to ${pending.topic} could not be sent within ${this.#options.publishTimeoutMs} ms (nothing was sent)`;
    const connected = this.#connection.current !== undefined;
    this.#settle(
      pending,
      brokerError(
        this.#connection.target,
        what,
        undefined,
        connected
          ? 'the broker may be blocking publishers (memory/disk alarm)'
          : 'no connection to RabbitMQ — is the broker running?',
      ),
    );
  }

  #settle(pending: Pending, error?: Error): void {
    if (pending.state === 'done') return;
    pending.state = 'done';
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve();
    if (--this.#unsettled === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
