import { ConfigError } from '@omnibus/core';
import type { Channel } from 'amqplib';
import { brokerError, type ConnectionManager, closeQuietly } from './connection.ts';
import type { RabbitMqOptions } from './options.ts';
import {
  declareFirstHashExchange,
  groupExchangeName,
  routingMismatch,
  topicExchangeType,
} from './routing.ts';

// Topology, per topic T and group G, with P = `partitions`:
//
//   exchange T (direct, durable)
//     ├─ routing key "0" ──> queue T.G.0   (quorum, durable, x-single-active-consumer)
//     ├─ …
//     └─ routing key "P-1" ─> queue T.G.<P-1>
//   queue T.G.members (classic, transient, expires when unused): never holds messages; each live
//   subscription of G keeps one consumer on it, so its consumer count is the number of instances.
//
// Another group G2 binds its own T.G2.0 … T.G2.<P-1> to the same keys: fan-out between groups,
// competing consumers inside a group. That is routing=fnv; routing=hash (see routing.ts) makes T a fanout
// exchange and puts a consistent-hash exchange T.G.hash between T and the group's queues.

export function exchangeName(topic: string): string {
  return topic;
}

export function partitionQueueName(topic: string, group: string, partition: number): string {
  return `${topic}.${group}.${partition}`;
}

function partitionQueueNames(topic: string, group: string, partitions: number): string[] {
  return Array.from({ length: partitions }, (_, p) => partitionQueueName(topic, group, p));
}

export function membersQueueName(topic: string, group: string): string {
  return `${topic}.${group}.members`;
}

/** How long an unused members queue lives (it has no messages, only consumers). */
const MEMBERS_QUEUE_EXPIRES_MS = 60_000;

/** Declares exchanges and group queues once per connection, on a channel of its own. */
export class Topology {
  readonly #connection: ConnectionManager;
  readonly #options: RabbitMqOptions;
  /** The channel declarations run on, and the one `readyMessages` asks on (a missing queue closes it). */
  readonly #channels = new Map<'declare' | 'inspect', Promise<Channel>>();
  #declared = new Map<string, Promise<void>>();
  /** routing=hash: the plugin is known to be there (its first exchange was declared on a connection of its own). */
  #hashTypeKnown = false;

  constructor(connection: ConnectionManager, options: RabbitMqOptions) {
    this.#connection = connection;
    this.#options = options;
    connection.onReconnected(() => this.#declared.clear());
  }

  /** The exchange for `topic` exists. Concurrent callers share one declaration. */
  ensureExchange(topic: string, deadline: number): Promise<void> {
    return this.#once(`x\0${topic}`, deadline, async (channel) => {
      await channel.assertExchange(exchangeName(topic), topicExchangeType(this.#options.routing), {
        durable: true,
      });
    });
  }

  /** The exchange, the partition queues of `group` and their bindings exist. */
  ensureGroup(topic: string, group: string, deadline: number): Promise<void> {
    return this.#once(`g\0${topic}\0${group}`, deadline, async (channel) => {
      await this.ensureExchange(topic, deadline);
      const exchange = exchangeName(topic);
      const queueArguments = { 'x-queue-type': this.#options.queueType, 'x-single-active-consumer': true };
      if (this.#options.routing === 'hash') {
        const hashExchange = groupExchangeName(topic, group);
        if (!this.#hashTypeKnown) {
          await declareFirstHashExchange(this.#connection, hashExchange);
          this.#hashTypeKnown = true;
        }
        await channel.assertExchange(hashExchange, 'x-consistent-hash', { durable: true, internal: true });
        // The broker numbers a consistent-hash exchange's buckets in the order its bindings were made, and
        // after a restart in the order of the queue names: binding in name order keeps both the same, so a
        // key stays in its partition across restarts. Weight 1 each: jump consistent hashing spreads evenly.
        for (const queue of partitionQueueNames(topic, group, this.#options.partitions).sort()) {
          await channel.assertQueue(queue, { durable: true, arguments: queueArguments });
          await channel.bindQueue(queue, hashExchange, '1');
        }
        // Last: the topic's events reach the group once every partition is in its hash ring.
        await channel.bindExchange(hashExchange, exchange, '');
      } else {
        for (let p = 0; p < this.#options.partitions; p++) {
          const queue = partitionQueueName(topic, group, p);
          await channel.assertQueue(queue, { durable: true, arguments: queueArguments });
          await channel.bindQueue(queue, exchange, String(p));
        }
      }
      await channel.assertQueue(membersQueueName(topic, group), {
        durable: false,
        arguments: { 'x-queue-type': 'classic', 'x-expires': MEMBERS_QUEUE_EXPIRES_MS },
      });
    });
  }

  /** Deletes the group queues (messages included) and the exchange; what `ensureGroup` made, undone. */
  async deleteGroups(topic: string, groups: string[], deadline: number): Promise<void> {
    await this.#declare(async (channel) => {
      for (const group of groups) {
        for (let p = 0; p < this.#options.partitions; p++)
          await channel.deleteQueue(partitionQueueName(topic, group, p));
        await channel.deleteQueue(membersQueueName(topic, group));
        await channel.deleteExchange(groupExchangeName(topic, group)); // routing=hash; none is no error
      }
      await channel.deleteExchange(exchangeName(topic));
    }, deadline);
    this.#declared.clear();
  }

  /** Forget what was declared (e.g. after a publish found an exchange missing): the next use re-declares. */
  reset(): void {
    this.#declared.clear();
  }

  /**
   * Messages ready for delivery in the group's partition queues, summed (the message count of a passive
   * queue.declare, which leaves out deliveries a consumer holds unacknowledged), or `undefined` when a queue
   * of the group does not exist. One round trip per partition queue, on a channel of its own.
   */
  async readyMessages(topic: string, group: string, deadline: number): Promise<number | undefined> {
    const channel = await this.#getChannel(deadline, 'inspect');
    const queues = partitionQueueNames(topic, group, this.#options.partitions);
    const answers = await Promise.allSettled(queues.map((queue) => channel.checkQueue(queue)));
    let ready = 0;
    for (const answer of answers) {
      if (answer.status === 'fulfilled') {
        ready += answer.value.messageCount;
        continue;
      }
      // A missing queue (404) closes the channel, failing the checks queued behind it too.
      if (answers.some((a) => a.status === 'rejected' && (a.reason as { code?: number })?.code === 404))
        return undefined;
      throw brokerError(
        this.#connection.target,
        `cannot read the queue depth of group ${group} on ${topic}`,
        answer.reason,
      );
    }
    return ready;
  }

  async close(): Promise<void> {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    for (const channel of channels) await closeQuietly(await channel.catch(() => undefined));
  }

  #once(id: string, deadline: number, declare: (channel: Channel) => Promise<void>): Promise<void> {
    let done = this.#declared.get(id);
    if (!done) {
      done = this.#declare(declare, deadline);
      this.#declared.set(id, done);
      done.catch(() => this.#declared.delete(id));
    }
    return done;
  }

  async #declare(declare: (channel: Channel) => Promise<void>, deadline: number): Promise<void> {
    const channel = await this.#getChannel(deadline, 'declare');
    try {
      await declare(channel);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw (
        routingMismatch(error, this.#options, this.#connection.target.display) ??
        brokerError(this.#connection.target, 'cannot declare the topology', error, hintFor(error))
      );
    }
  }

  #getChannel(deadline: number, purpose: 'declare' | 'inspect'): Promise<Channel> {
    let channel = this.#channels.get(purpose);
    if (!channel) {
      const forget = () => {
        if (this.#channels.get(purpose) === opening) this.#channels.delete(purpose);
      };
      const opening = (async () => {
        const opened = await this.#openChannel(deadline);
        // A declaration error (406, 404) closes the channel: the next declaration opens another.
        opened.on('close', forget);
        return opened;
      })();
      this.#channels.set(purpose, opening);
      opening.catch(forget);
      channel = opening;
    }
    return channel;
  }

  /**
   * A channel on the live connection. When the connection goes away while the channel opens (amqplib then
   * rejects with "Channel ended, no reply will be forthcoming"), it waits for the next connection, as the
   * declaration would have had the connection been seen gone a moment earlier.
   */
  async #openChannel(deadline: number): Promise<Channel> {
    for (;;) {
      const model = await this.#connection.whenConnected(deadline, 'declaring topology');
      try {
        return await this.#connection.createChannel(model);
      } catch (error) {
        if (this.#connection.current === model || this.#connection.closed) {
          throw brokerError(this.#connection.target, 'cannot open a channel to declare the topology', error);
        }
      }
    }
  }
}

function hintFor(error: unknown): string | undefined {
  const code = (error as { code?: number } | undefined)?.code;
  if (code === 406) {
    return 'a queue or exchange of that name exists with other settings (queue type, durability) — delete it or match its settings (queueType=quorum|classic)';
  }
  if (code === 403) return 'the user may not configure these names in this vhost';
  return undefined;
}
