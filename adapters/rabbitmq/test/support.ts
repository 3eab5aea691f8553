import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Delivery, SubscribeRequest, TransportOptions } from '@omnibus/core';
import amqp from 'amqplib';
import { RabbitMqTransport } from '../src/adapter.ts';
import type { RabbitMqOptions } from '../src/options.ts';
import { groupExchangeName } from '../src/routing.ts';
import { exchangeName, membersQueueName, partitionQueueName } from '../src/topology.ts';

export function uniqueTopic(label: string): string {
  return `test-rabbitmq-${label}-${randomBytes(4).toString('hex')}`;
}

/** Transports opened by a test, closed and their topology deleted by {@link cleanUp}. */
export class Fixture {
  readonly url: string;
  readonly #transports: RabbitMqTransport[] = [];
  readonly #topology: Array<{ topic: string; groups: string[]; partitions: number }> = [];

  constructor(url: string) {
    this.url = url;
  }

  async transport(
    overrides: Partial<RabbitMqOptions> = {},
    url = this.url,
    context: TransportOptions = {},
  ): Promise<RabbitMqTransport> {
    const transport = new RabbitMqTransport(new URL(url), overrides, context);
    this.#transports.push(transport);
    await transport.connect();
    return transport;
  }

  /** Remember to delete `topic`'s exchange and the queues of `groups` afterwards. */
  track(topic: string, groups: string[], partitions = 4): void {
    this.#topology.push({ topic, groups, partitions });
  }

  async cleanUp(): Promise<void> {
    await Promise.all(this.#transports.splice(0).map((t) => t.close().catch(() => {})));
    const connection = await amqp.connect(this.url);
    const channel = await connection.createChannel();
    for (const { topic, groups, partitions } of this.#topology.splice(0)) {
      for (const group of groups) {
        for (let p = 0; p < partitions; p++) await channel.deleteQueue(partitionQueueName(topic, group, p));
        await channel.deleteQueue(membersQueueName(topic, group));
        await channel.deleteExchange(groupExchangeName(topic, group));
      }
      await channel.deleteExchange(exchangeName(topic));
    }
    await connection.close();
  }
}

/** Deliveries a subscription received, with helpers to ack them as they come or hold them. */
export function collector(overrides: Partial<SubscribeRequest> & Pick<SubscribeRequest, 'topic' | 'group'>) {
  const deliveries: Delivery[] = [];
  const errors: Error[] = [];
  const request: SubscribeRequest = {
    maxInFlight: 16,
    onDelivery: async (delivery) => {
      deliveries.push(delivery);
    },
    onError: (error) => errors.push(error),
    ...overrides,
  };
  return { request, deliveries, errors };
}

export function bodyText(delivery: Delivery): string {
  return Buffer.from(delivery.body).toString('utf8');
}

/** Polls `condition` every 20 ms until it holds; fails with `what()` after `timeoutMs`. */
export async function until(condition: () => boolean, what: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP forwarder to the broker that a test can cut (drop every connection, refuse new ones) and restore. */
export class CuttableProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #refusing = false;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      if (this.#refusing) {
        client.destroy();
        return;
      }
      const upstream = net.connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /** Drops every open connection; with `refuse`, new ones are dropped too until {@link restore}. */
  cut(refuse: boolean): void {
    this.#refusing = refuse;
    for (const socket of this.#sockets) socket.destroy();
  }

  restore(): void {
    this.#refusing = false;
  }

  async close(): Promise<void> {
    this.cut(true);
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/**
 * What the core does with deliveries, in miniature: per key one at a time in delivery order, other keys
 * concurrently; each start is recorded, then acked after `work()`.
 */
export class KeyedConsumer {
  readonly name: string;
  readonly starts: Array<{ key: string; body: string; instance: string }>;
  readonly #chains = new Map<string, Promise<void>>();
  readonly #work: () => Promise<void>;
  count = 0;

  constructor(name: string, starts: KeyedConsumer['starts'], work: () => Promise<void> = async () => {}) {
    this.name = name;
    this.starts = starts;
    this.#work = work;
  }

  readonly onDelivery = async (delivery: Delivery): Promise<void> => {
    const key = delivery.key ?? '';
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const next = previous.then(async () => {
      this.starts.push({ key, body: bodyText(delivery), instance: this.name });
      this.count++;
      await this.#work();
      await delivery.ack().catch(() => {});
    });
    this.#chains.set(key, next);
  };
}

/** Per key, the first starts of each body must follow publish order (bodies are increasing numbers). */
export function keyOrderViolations(starts: KeyedConsumer['starts']): string[] {
  const byKey = new Map<string, number[]>();
  for (const { key, body } of starts) {
    const seen = byKey.get(key) ?? [];
    if (!seen.includes(Number(body))) seen.push(Number(body));
    byKey.set(key, seen);
  }
  const violations: string[] = [];
  for (const [key, seqs] of byKey) {
    const at = seqs.findIndex((seq, i) => i > 0 && seq < seqs[i - 1]!);
    if (at !== -1) violations.push(`key ${key}: ${seqs[at]} started after ${seqs[at - 1]}`);
  }
  return violations;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
