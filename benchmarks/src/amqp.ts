import { type OutgoingMessage, renameHeaders } from '@omnibus/core';
import { exchangeName, membersQueueName, partitionQueueName } from '@omnibus/rabbitmq';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage, type Options } from 'amqplib';
import { ArrivalClock, now, perSecond, withTimeout } from './stats.ts';

/**
 * The raw amqplib side, on the topology the omnibus adapter builds: a durable direct exchange per topic,
 * P durable quorum queues with single-active-consumer per group bound by routing key "0".."P-1",
 * messages spread round-robin over the partitions (as the adapter does for unkeyed events), persistent
 * and mandatory, published on a confirm channel with a window of outstanding confirms.
 */
export interface RawAmqpSettings {
  /** Most unconfirmed publishes at once. */
  confirmWindow: number;
  /** Partition queues per group. */
  partitions: number;
  /** Prefetch of each partition queue's consumer channel. */
  prefetch: number;
  timeoutMs: number;
}

export interface AmqpTarget {
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
}

/** Parses an amqp:// URL into connect options; never returns a printable form with the password. */
export function amqpTarget(url: string): AmqpTarget {
  const u = new URL(url);
  return {
    hostname: u.hostname,
    port: u.port ? Number(u.port) : 5672,
    username: u.username ? decodeURIComponent(u.username) : 'guest',
    password: u.password ? decodeURIComponent(u.password) : 'guest',
    vhost: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/',
  };
}

/** The AMQP properties the adapter would send for `message` (CloudEvents AMQP binding names). */
export function amqpProperties(message: OutgoingMessage): Options.Publish {
  const headers = renameHeaders(message.headers, 'ce_', 'cloudEvents_');
  const contentType = headers['content-type'];
  delete headers['content-type'];
  const time = Date.parse(headers.cloudEvents_time ?? '');
  return {
    persistent: true,
    mandatory: true,
    headers,
    messageId: headers.cloudEvents_id,
    contentType,
    type: headers.cloudEvents_type,
    timestamp: Number.isNaN(time) ? undefined : Math.floor(time / 1000),
  };
}

export class RawAmqp {
  readonly #model: ChannelModel;

  private constructor(model: ChannelModel) {
    this.#model = model;
  }

  static async connect(target: AmqpTarget): Promise<RawAmqp> {
    const model = await amqp.connect({ protocol: 'amqp', heartbeat: 10, ...target }, { timeout: 3_000 });
    model.on('error', () => {});
    return new RawAmqp(model);
  }

  async #channel<T>(use: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await this.#model.createChannel();
    channel.on('error', () => {});
    try {
      return await use(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** Exchange + partition queues + bindings for (topic, group), exactly as the adapter declares them. */
  async declare(
    topic: string,
    group: string,
    partitions: number,
    queueType: 'quorum' | 'classic' = 'quorum',
  ): Promise<void> {
    await this.#channel(async (channel) => {
      await channel.assertExchange(exchangeName(topic), 'direct', { durable: true });
      for (let p = 0; p < partitions; p++) {
        const queue = partitionQueueName(topic, group, p);
        await channel.assertQueue(queue, {
          durable: true,
          arguments: { 'x-queue-type': queueType, 'x-single-active-consumer': true },
        });
        await channel.bindQueue(queue, exchangeName(topic), String(p));
      }
    });
  }

  /** Deletes the queues and exchanges of (topic, group) and of the SDK's `<topic>.dlq` (best effort). */
  async cleanup(topic: string, group: string, partitions: number): Promise<void> {
    const sets: [string, string][] = [
      [topic, group],
      [`${topic}.dlq`, 'dead-letters'],
    ];
    for (const [t, g] of sets) {
      const queues = [membersQueueName(t, g)];
      for (let p = 0; p < partitions; p++) queues.push(partitionQueueName(t, g, p));
      for (const queue of queues) await this.#channel((c) => c.deleteQueue(queue)).catch(() => {});
      await this.#channel((c) => c.deleteExchange(exchangeName(t))).catch(() => {});
    }
  }

  /** `count` copies of `message` through a confirm channel, ≤ `confirmWindow` unconfirmed; msg/s. */
  async publish(
    topic: string,
    message: OutgoingMessage,
    count: number,
    settings: RawAmqpSettings,
  ): Promise<number> {
    const content = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const properties = amqpProperties(message);
    const start = now();
    await this.publishMany(topic, count, settings, () => content, properties);
    return perSecond(count, now() - start);
  }

  /**
   * `count` messages whose content is `content(i)` through a fresh confirm channel, ≤ `confirmWindow`
   * unconfirmed, waiting for 'drain' on back-pressure; resolves once the broker confirmed all of them.
   */
  async publishMany(
    topic: string,
    count: number,
    settings: RawAmqpSettings,
    content: (index: number) => Buffer,
    properties: Options.Publish,
  ): Promise<void> {
    const channel = await this.#model.createConfirmChannel();
    channel.on('error', () => {});
    const exchange = exchangeName(topic);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          let sent = 0;
          let confirmed = 0;
          let blocked = false;
          const pump = (): void => {
            while (!blocked && sent < count && sent - confirmed < settings.confirmWindow) {
              const routingKey = String(sent % settings.partitions);
              const body = content(sent);
              sent++;
              const writable = channel.publish(exchange, routingKey, body, properties, (error) => {
                if (error) {
                  reject(error);
                  return;
                }
                confirmed++;
                if (confirmed === count) resolve();
                else pump();
              });
              if (!writable) {
                blocked = true;
                channel.once('drain', () => {
                  blocked = false;
                  pump();
                });
              }
            }
          };
          pump();
        }),
        settings.timeoutMs,
        `raw amqplib publish to ${topic} timed out`,
      );
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** A long-lived confirm channel publishing to `topic`; `send` resolves once the broker confirmed. */
  async confirmPublisher(
    topic: string,
    partitions: number,
    properties: Options.Publish,
  ): Promise<{ send(content: Buffer): Promise<void>; close(): Promise<void> }> {
    const channel = await this.#model.createConfirmChannel();
    channel.on('error', () => {});
    const exchange = exchangeName(topic);
    let next = 0;
    return {
      send: (content) =>
        new Promise<void>((resolve, reject) => {
          channel.publish(exchange, String(next++ % partitions), content, properties, (error) =>
            error ? reject(error) : resolve(),
          );
        }),
      close: () => channel.close().catch(() => {}),
    };
  }

  /** One channel per partition queue with `prefetch`, manual acks; msg/s first→last. */
  async consume(topic: string, group: string, count: number, settings: RawAmqpSettings): Promise<number> {
    const clock = new ArrivalClock(count);
    const stop = await this.startConsumer(topic, group, settings, () => clock.tick());
    try {
      clock.start();
      await withTimeout(
        clock.done,
        settings.timeoutMs,
        `raw amqplib consumer got ${clock.count} of ${count} messages from ${topic} within ${settings.timeoutMs} ms`,
      );
    } finally {
      await stop();
    }
    return clock.rate();
  }

  /**
   * Consumes every partition queue of (topic, group) on its own channel with `prefetch`, calling
   * `onMessage` and then acking each delivery; resolves once all consumers are registered, with a stop.
   */
  async startConsumer(
    topic: string,
    group: string,
    settings: RawAmqpSettings,
    onMessage: (content: Buffer) => void,
  ): Promise<() => Promise<void>> {
    const channels: Channel[] = [];
    const stop = async () => {
      await Promise.allSettled(channels.map((c) => c.close()));
    };
    try {
      for (let p = 0; p < settings.partitions; p++) {
        const channel = await this.#model.createChannel();
        channel.on('error', () => {});
        channels.push(channel);
        await channel.prefetch(settings.prefetch);
        await channel.consume(partitionQueueName(topic, group, p), (msg: ConsumeMessage | null) => {
          if (!msg) return;
          onMessage(msg.content);
          channel.ack(msg);
        });
      }
    } catch (error) {
      await stop();
      throw error;
    }
    return stop;
  }

  /** The broker's product and version as it announced them on connect, e.g. `RabbitMQ 3.10.8`. */
  get server(): string {
    const props = (this.#model.connection as unknown as { serverProperties?: Record<string, unknown> })
      .serverProperties;
    const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'string' ? v : '');
    return `${text(props?.product) || 'AMQP broker'} ${text(props?.version)}`.trim();
  }

  async close(): Promise<void> {
    await this.#model.close().catch(() => {});
  }
}
