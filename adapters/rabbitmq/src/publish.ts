import { assertPublishable, MessageTooLargeError, type OutgoingMessage, partitionOf } from '@omnibus/core';
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { brokerError, type ConnectionManager, closeQuietly } from './connection.ts';
import { toAmqpProperties } from './headers.ts';
import type { RabbitMqOptions } from './options.ts';
import { hashRoutingKey } from './routing.ts';
import { exchangeName, type Topology } from './topology.ts';

/**
 * What RabbitMQ (3.8+) says when a body is over its `max_message_size`: it closes the channel with 406, and
 * drops everything published after that message on the channel. The limit is not readable over AMQP.
 */
const SIZE_REFUSED = /message size (\d+) is larger than (?:configured )?max size (\d+)/;

interface Pending {
  seq: number;
  topic: string;
  eventType: string;
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
 *
 * A body the broker refuses for its size (over `max_message_size`) fails its own publish with a
 * {@link MessageTooLargeError} and is not sent again; the broker's limit is then known, so later ones fail
 * before they are sent. A body larger than any the broker has confirmed so far goes out alone (nothing else
 * awaiting a confirm on the channel, nothing sent after it until its confirm), so that if the broker refuses
 * it the channel closes with no other publish in flight: none is sent twice or failed because of it.
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
  /** Largest body the broker has confirmed: bodies up to this size cannot be over its limit. */
  #acceptedBytes = 0;
  /** The broker's `max_message_size` (bytes of body), once a refusal has told it. */
  #brokerLimit: number | undefined;
  /** A publish larger than #acceptedBytes, sent alone and awaiting its confirm. */
  #probe: Pending | undefined;
  /** Why the broker last closed the publishing channel, until a publish is confirmed again. */
  #channelError: Error | undefined;
  readonly #onBrokerLimit: (bytes: number) => void;

  /** `onBrokerLimit` hears the broker's `max_message_size` once a refusal has told it. */
  constructor(
    connection: ConnectionManager,
    topology: Topology,
    options: RabbitMqOptions,
    onBrokerLimit: (bytes: number) => void = () => {},
  ) {
    this.#connection = connection;
    this.#topology = topology;
    this.#options = options;
    this.#onBrokerLimit = onBrokerLimit;
    connection.onReconnected(() => this.#pump());
  }

  async publish(message: OutgoingMessage): Promise<void> {
    // Events stop at maxMessageBytes (the bus checks); dead letters may use the headroom above it.
    assertPublishable(message, this.#options, 'rabbitmq');
    const deadline = Date.now() + this.#options.publishTimeoutMs;
    const properties = toAmqpProperties(message.headers, message.key);
    const routingKey = this.#routingKey(message.key, properties.messageId as string);
    const content = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const eventType = message.headers.ce_type ?? message.topic;
    if (this.#brokerLimit !== undefined && content.byteLength > this.#brokerLimit)
      throw this.#tooLarge(eventType, content.byteLength, this.#brokerLimit);
    // Every publish awaits this (resolved or not), so concurrent publishes keep their call order.
    await this.#topology.ensureExchange(message.topic, deadline);
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        seq: this.#seq++,
        topic: message.topic,
        eventType,
        routingKey,
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

  /**
   * routing=fnv: the partition, `fnv1a32(key) mod partitions` (unkeyed: round-robin). routing=hash: the key
   * itself — the broker's consistent-hash exchange of each group picks the partition, as it does for any
   * producer (see {@link hashRoutingKey}).
   */
  #routingKey(key: string | undefined, messageId: string): string {
    if (this.#options.routing === 'hash') return hashRoutingKey(key, messageId);
    const partitions = this.#options.partitions;
    return String(key === undefined ? this.#spread++ % partitions : partitionOf(key, partitions));
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
    while (
      !this.#draining &&
      !this.#probe &&
      this.#outstanding < this.#options.confirmWindow &&
      this.#queue.length > 0
    ) {
      const pending = this.#queue[0]!;
      const bytes = pending.content.byteLength;
      if (pending.state === 'done') {
        this.#queue.shift();
        continue;
      }
      if (this.#brokerLimit !== undefined && bytes > this.#brokerLimit) {
        this.#queue.shift();
        this.#settle(pending, this.#tooLarge(pending.eventType, bytes, this.#brokerLimit));
        continue;
      }
      // Larger than any body the broker took: it may be over max_message_size, so it goes out alone.
      const probe = bytes > this.#acceptedBytes;
      if (probe && this.#outstanding > 0) return; // the confirms under way pump again
      this.#queue.shift();
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
      if (probe) this.#probe = pending;
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
      channel.on('error', (error: Error & { code?: number }) => {
        closeCode = error.code;
        this.#channelError = error;
        const refused = error.code === 406 ? SIZE_REFUSED.exec(error.message) : null;
        if (refused) this.#refusedForSize(Number(refused[1]), Number(refused[2]));
      });
      channel.on('return', (message: Message) => this.#returned(message));
      channel.on('close', () => {
        if (this.#channel !== channel) return;
        this.#channel = undefined;
        this.#outstanding = 0;
        this.#draining = false;
        this.#probe = undefined;
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
    if (this.#probe === pending) this.#probe = undefined;
    if (!error) {
      this.#acceptedBytes = Math.max(this.#acceptedBytes, pending.content.byteLength);
      this.#channelError = undefined;
    }
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

  /**
   * The broker closed the channel because a body of `size` bytes is over its `limit`. The broker refuses the
   * first such publish sent on the channel (it takes a channel's publishes in order and drops those after
   * the refused one, which go out again on the next channel): that one fails, and is not sent again.
   */
  #refusedForSize(size: number, limit: number): void {
    this.#brokerLimit = limit;
    this.#onBrokerLimit(limit);
    let refused: Pending | undefined;
    for (const list of this.#sent.values()) {
      for (const p of list) {
        if (p.state === 'sent' && p.content.byteLength === size && (!refused || p.seq < refused.seq))
          refused = p;
      }
    }
    if (refused) this.#settle(refused, this.#tooLarge(refused.eventType, size, limit));
  }

  #tooLarge(eventType: string, bytes: number, limit: number): MessageTooLargeError {
    return new MessageTooLargeError(eventType, bytes, limit, `RabbitMQ broker's max_message_size`);
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
    // A probe whose confirm does not come (a blocked broker) must not hold back the others for ever.
    if (this.#probe === pending) {
      this.#probe = undefined;
      setImmediate(() => this.#pump());
    }
    if (!sent) this.#queue = this.#queue.filter((p) => p !== pending);
    const what = sent
      ? `a publish to ${pending.topic} was not confirmed within ${this.#options.publishTimeoutMs} ms (it may still arrive)`
      : `a publish to ${pending.topic} could not be sent within ${this.#options.publishTimeoutMs} ms (nothing was sent)`;
    const connected = this.#connection.current !== undefined;
    // The broker closing the channel (the cause) explains more than a guess at an alarm.
    const cause = connected ? this.#channelError : this.#connection.lastError;
    this.#settle(
      pending,
      brokerError(
        this.#connection.target,
        what,
        cause,
        !connected
          ? 'no connection to RabbitMQ — is the broker running?'
          : this.#channelError
            ? 'the broker closed the publishing channel'
            : 'the broker may be blocking publishers (memory/disk alarm)',
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
