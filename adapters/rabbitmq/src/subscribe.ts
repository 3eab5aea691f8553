import { PartitionTracker, type SubscribeRequest, type TransportSubscription } from '@omnibus/core';
import type { Channel, ConsumeMessage } from 'amqplib';
import { ChannelAcks } from './acks.ts';
import { brokerError, type ConnectionManager, closeQuietly } from './connection.ts';
import { fromAmqpProperties } from './headers.ts';
import type { RabbitMqOptions } from './options.ts';
import { keyOfRoutingKey } from './routing.ts';
import { membersQueueName, partitionQueueName, type Topology } from './topology.ts';

interface Partition {
  index: number;
  queue: string;
  channel: Channel | undefined;
  /** The acknowledgements of `channel`. */
  acks: ChannelAcks | undefined;
  opening: boolean;
  /** Received from the broker, not yet handed to the core, in queue order. */
  buffer: ConsumeMessage[];
  /** Delivered since this consumer registered, so it is the queue's single active consumer. */
  active: boolean;
  /**
   * Being handed to another instance: revoked in the tracker (nothing more goes to the core, what has not
   * started comes back); the channel closes once every delivery of it has settled.
   */
  yielding: boolean;
}

const AMQP_MAX_PREFETCH = 65_535;

/**
 * One group's consumer on the P partition queues of a topic, one channel per partition.
 *
 * Every instance registers a consumer on every partition queue; `x-single-active-consumer` makes one
 * of them active per queue (per-key order across instances), the others stand by and take over when it
 * dies. Plain SAC would leave the first instance active everywhere, so instances rebalance: one that
 * has received deliveries from more than ceil(P / instances) partitions (instances = consumers of the
 * group's members queue) drains the extra ones through the core's {@link PartitionTracker} (nothing more is
 * handed over, the core hands back what has not started, running handlers finish), then closes that
 * channel — the broker returns the held-back and handed-back messages, in queue order, and activates the
 * next consumer in one step — and registers again at the back of the line.
 */
export class PartitionedSubscription implements TransportSubscription {
  readonly #connection: ConnectionManager;
  readonly #topology: Topology;
  readonly #options: RabbitMqOptions;
  readonly #request: SubscribeRequest;
  readonly #partitions: Partition[];
  readonly #membersQueue: string;
  /** Hands over what was held back once a settle is counted (a settled delivery may bring no new message). */
  readonly #tracker = new PartitionTracker<number>(() => this.#pump());
  #control: Channel | undefined;
  #cursor = 0;
  #stopped = false;
  #closing: Promise<void> | undefined;
  #resuming: Promise<void> | undefined;
  #resumeAgain = false;
  #failures = 0;
  #reportedError = false;
  #rebalancing = false;
  #rebalanceTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #interval: NodeJS.Timeout;
  readonly #offReconnected: () => void;

  constructor(
    connection: ConnectionManager,
    topology: Topology,
    options: RabbitMqOptions,
    request: SubscribeRequest,
  ) {
    this.#connection = connection;
    this.#topology = topology;
    this.#options = options;
    this.#request = request;
    this.#membersQueue = membersQueueName(request.topic, request.group);
    this.#partitions = Array.from({ length: options.partitions }, (_, p) => ({
      index: p,
      queue: partitionQueueName(request.topic, request.group, p),
      channel: undefined,
      acks: undefined,
      opening: false,
      buffer: [],
      active: false,
      yielding: false,
    }));
    this.#offReconnected = connection.onReconnected(() => this.#resume());
    this.#interval = setInterval(() => this.#scheduleRebalance(0), options.rebalanceIntervalMs);
    this.#interval.unref();
  }

  /** Declares the group's queues and registers the consumers; throws a BrokerError if it cannot. */
  async start(): Promise<void> {
    await this.#topology.ensureGroup(this.#request.topic, this.#request.group, this.#deadline());
    await this.#openAll();
  }

  async stop(): Promise<void> {
    // Consumers stay registered (cancelling would activate a standby while the core still holds
    // deliveries, breaking per-key order); whatever arrives now waits until close() returns it.
    this.#stopped = true;
    clearTimeout(this.#rebalanceTimer);
    clearInterval(this.#interval);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.stop();
    clearTimeout(this.#retryTimer);
    this.#offReconnected();
    const channels = [this.#control, ...this.#partitions.map((p) => p.channel)];
    this.#control = undefined;
    for (const p of this.#partitions) {
      p.channel = undefined;
      p.acks = undefined;
      p.buffer = [];
    }
    // Closing a channel returns its unacknowledged messages to their queues.
    await Promise.all(channels.map((channel) => closeQuietly(channel)));
  }

  #deadline(): number {
    return Date.now() + this.#options.publishTimeoutMs;
  }

  async #openAll(): Promise<void> {
    for (const partition of this.#partitions) {
      if (!partition.channel && !partition.opening) await this.#openPartition(partition);
    }
    // Joined the members queue last, so other instances count us once we can take partitions.
    if (!this.#control) await this.#openControl();
  }

  async #openControl(): Promise<void> {
    const model = this.#connection.current;
    if (!model || this.#closing) return;
    const channel = await this.#connection.createChannel(model);
    channel.on('close', () => {
      if (this.#control !== channel) return;
      this.#control = undefined;
      this.#scheduleResume();
    });
    await channel.consume(this.#membersQueue, () => {}, { noAck: true });
    if (this.#closing) {
      await closeQuietly(channel);
      return;
    }
    this.#control = channel;
  }

  async #openPartition(partition: Partition): Promise<void> {
    const model = this.#connection.current;
    if (!model || this.#closing) return;
    partition.opening = true;
    try {
      const channel = await this.#connection.createChannel(model);
      channel.on('error', (error: { code?: number }) => {
        if (error.code === 404) this.#topology.reset(); // queue deleted: declare again
      });
      channel.on('close', () => this.#partitionClosed(partition, channel));
      await channel.prefetch(
        Math.min(AMQP_MAX_PREFETCH, this.#options.prefetch ?? this.#request.maxInFlight),
      );
      partition.channel = channel;
      partition.acks = new ChannelAcks(channel);
      partition.buffer = [];
      partition.active = false;
      partition.yielding = false;
      this.#tracker.assign([partition.index]);
      await channel.consume(partition.queue, (message) => this.#received(partition, channel, message), {
        noAck: false,
      });
      if (this.#closing) await closeQuietly(channel);
    } finally {
      partition.opening = false;
    }
  }

  #partitionClosed(partition: Partition, channel: Channel): void {
    if (partition.channel !== channel) return; // closed on purpose (yield, close)
    partition.channel = undefined;
    partition.acks = undefined;
    partition.buffer = []; // the broker has returned them to the queue
    partition.active = false;
    partition.yielding = false;
    this.#scheduleResume();
  }

  /** Re-open what is missing after a channel was lost: soon if the connection lives, else on reconnect. */
  #scheduleResume(): void {
    if (this.#closing || this.#retryTimer) return;
    const delay = Math.min(
      this.#options.reconnectMaxDelayMs,
      this.#options.reconnectDelayMs * 2 ** this.#failures,
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#connection.current) this.#resume();
    }, delay);
  }

  #resume(): void {
    if (this.#closing) return;
    if (this.#resuming) {
      this.#resumeAgain = true;
      return;
    }
    this.#resuming = (async () => {
      try {
        await this.#topology.ensureGroup(this.#request.topic, this.#request.group, this.#deadline());
        await this.#openAll();
        this.#failures = 0;
        this.#reportedError = false;
      } catch (error) {
        this.#failures++;
        if (this.#failures >= 3 && !this.#reportedError) {
          this.#reportedError = true;
          const what = `lost the consumer of ${this.#request.topic} (group ${this.#request.group}) and cannot resume it yet; still trying`;
          this.#request.onError(brokerError(this.#connection.target, what, error));
        }
        this.#scheduleResume();
      } finally {
        this.#resuming = undefined;
        if (this.#resumeAgain) {
          this.#resumeAgain = false;
          this.#resume();
        }
      }
    })();
  }

  #received(partition: Partition, channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (queue deleted): start over on a new channel.
      this.#topology.reset();
      void closeQuietly(channel);
      return;
    }
    if (partition.channel !== channel) return;
    partition.acks!.received(message);
    partition.buffer.push(message);
    if (!partition.active) {
      partition.active = true;
      this.#scheduleRebalance(0);
    }
    this.#pump();
  }

  /** Hands buffered deliveries to the core, round-robin over partitions, up to `maxInFlight` unsettled. */
  #pump(): void {
    const count = this.#partitions.length;
    while (!this.#stopped && this.#tracker.inFlight() < this.#request.maxInFlight) {
      let next: Partition | undefined;
      for (let i = 0; i < count && !next; i++) {
        const candidate = this.#partitions[(this.#cursor + i) % count]!;
        if (candidate.buffer.length > 0 && !candidate.yielding && candidate.channel) {
          next = candidate;
          this.#cursor = (this.#cursor + i + 1) % count;
        }
      }
      if (!next) return;
      this.#handOver(next, next.channel!, next.buffer.shift()!);
    }
  }

  #handOver(partition: Partition, channel: Channel, message: ConsumeMessage): void {
    const { headers, key: headerKey } = fromAmqpProperties(message.properties);
    // routing=hash: the routing key placed the message in its partition, so it is the key of a producer that
    // sent no cloudEvents_partitionkey (one that publishes the plain way, exchange = topic, routing key = key).
    const key =
      headerKey ??
      (this.#options.routing === 'hash'
        ? keyOfRoutingKey(message.fields.routingKey, this.#request.topic, message.properties.messageId)
        : undefined);
    const count = message.properties.headers?.['x-delivery-count'];
    const deliveryCount =
      typeof count === 'number'
        ? count + 1
        : this.#options.queueType === 'quorum' || !message.fields.redelivered
          ? 1
          : undefined;
    const delivery = this.#tracker.track(
      partition.index,
      { key, body: message.content, headers, deliveryCount },
      {
        ack: () => this.#settle(partition, channel, message, 'ack'),
        release: () => this.#settle(partition, channel, message, 'release'),
      },
    );
    this.#request.onDelivery(delivery).catch((error: unknown) => this.#request.onError(error as Error));
  }

  /** The broker side of ack/release (the tracker makes each delivery settle once). */
  async #settle(partition: Partition, channel: Channel, message: ConsumeMessage, how: 'ack' | 'release') {
    const acks = partition.channel === channel ? partition.acks : undefined;
    if (!acks) {
      if (how === 'release') return;
      throw brokerError(
        this.#connection.target,
        'cannot acknowledge: its channel was closed, so the broker will deliver the message again',
      );
    }
    // Handed back on close or hand-over: left unacknowledged, so closing the channel returns it with the
    // rest, in queue order (a requeue now would put it behind messages already prefetched).
    if (how === 'release' && (this.#stopped || partition.yielding)) return;
    try {
      if (how === 'ack') await acks.ack(message);
      else acks.requeue(message);
    } catch (error) {
      throw brokerError(this.#connection.target, `cannot ${how} a delivery`, error);
    }
    // No hand-over from here: the tracker has not counted this settle yet; its onSettled hands over.
  }

  #scheduleRebalance(delay: number): void {
    if (this.#rebalanceTimer || this.#stopped) return;
    this.#rebalanceTimer = setTimeout(() => {
      this.#rebalanceTimer = undefined;
      void this.#rebalance();
    }, delay);
  }

  /** Gives away partitions beyond this instance's share (see the class comment). */
  async #rebalance(): Promise<void> {
    const control = this.#control;
    if (this.#rebalancing || this.#stopped || !control) return;
    this.#rebalancing = true;
    try {
      const { consumerCount } = await control.checkQueue(this.#membersQueue);
      const share = Math.ceil(this.#partitions.length / Math.max(1, consumerCount));
      const active = this.#partitions.filter((p) => p.active && !p.yielding && p.channel);
      if (active.length <= share) return;
      // Give away the partitions with the least work held, so the hand-over is quick.
      const held = (p: Partition) => this.#tracker.inFlight(p.index) + p.buffer.length;
      active.sort((a, b) => held(a) - held(b));
      for (const partition of active.slice(0, active.length - share)) {
        partition.yielding = true;
        void this.#tracker.drain([partition.index]).then(() => this.#completeYield(partition));
      }
    } catch {
      // The control channel closed: it is re-opened by #resume, and the next round tries again.
    } finally {
      this.#rebalancing = false;
    }
  }

  async #completeYield(partition: Partition): Promise<void> {
    const channel = partition.channel;
    if (!channel) return;
    partition.channel = undefined;
    partition.acks = undefined;
    partition.buffer = [];
    partition.active = false;
    partition.opening = true; // keeps #resume from registering again before the close is through
    // One step on the broker: held-back messages return to the queue and the next consumer activates.
    await closeQuietly(channel);
    partition.yielding = false;
    partition.opening = false;
    if (this.#closing || this.#stopped) return;
    try {
      await this.#openPartition(partition);
    } catch {
      this.#scheduleResume();
    }
  }
}
