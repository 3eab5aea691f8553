import { randomBytes } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import { type Delivery, type OutgoingMessage, parseBrokerUrl, type SubscribeRequest } from '@omnibus/core';
import { Redis } from 'ioredis';
import { createAdmin, createRedisTransport, type RedisOptions, type RedisTransport } from '../src/index.ts';

export const REDIS_URL = brokerUrl('redis');

/** A topic name no other test (or engineer sharing the Redis) uses. */
export function uniqueTopic(label: string): string {
  return `test-redis-${label}-${randomBytes(4).toString('hex')}`;
}

export function message(topic: string, seq: number, key?: string, body?: Uint8Array): OutgoingMessage {
  return { topic, key, body: body ?? Buffer.from(`event ${seq}`), headers: { seq: String(seq) } };
}

/** Transports and topics a test opened; {@link Fixture.cleanUp} closes them and deletes the topics. */
export class Fixture {
  readonly url: string;
  readonly #transports: RedisTransport[] = [];
  readonly #topics = new Map<string, Set<string>>();
  readonly #clients: Redis[] = [];

  constructor(url: string) {
    this.url = url;
  }

  async transport(overrides: Partial<RedisOptions> = {}, url = this.url): Promise<RedisTransport> {
    const transport = createRedisTransport(url, overrides);
    this.#transports.push(transport);
    await transport.connect();
    return transport;
  }

  /** A raw ioredis client on the test Redis (closed in clean-up). */
  raw(): Redis {
    const client = new Redis(this.url, { lazyConnect: false });
    client.on('error', () => {});
    this.#clients.push(client);
    return client;
  }

  /** Delete `topic` (and its dead-letter topic) for `groups` after the test. */
  track(topic: string, ...groups: string[]): string {
    for (const name of [topic, `${topic}.dlq`]) {
      const known = this.#topics.get(name) ?? new Set<string>();
      for (const group of groups) known.add(group);
      this.#topics.set(name, known);
    }
    return topic;
  }

  async cleanUp(): Promise<void> {
    await Promise.all(this.#transports.splice(0).map((t) => t.close().catch(() => {})));
    const admin = await createAdmin(parseBrokerUrl(this.url), this.url);
    for (const [topic, groups] of this.#topics) await admin.deleteTopic(topic, [...groups]);
    this.#topics.clear();
    await admin.close();
    for (const client of this.#clients.splice(0)) client.disconnect();
  }
}

/** A subscribe request that records deliveries and errors; `handle` decides what happens to each. */
export function collector(
  request: Pick<SubscribeRequest, 'topic' | 'group'> & Partial<SubscribeRequest>,
  handle: (delivery: Delivery) => Promise<void> | void = (d) => d.ack(),
) {
  const deliveries: Delivery[] = [];
  const errors: Error[] = [];
  return {
    deliveries,
    errors,
    seqs: () => deliveries.map((d) => Number(d.headers.seq)),
    request: {
      maxInFlight: 16,
      onDelivery: async (delivery: Delivery) => {
        deliveries.push(delivery);
        await handle(delivery);
      },
      onError: (error: Error) => void errors.push(error),
      ...request,
    } satisfies SubscribeRequest,
  };
}

/** Polls until `done()` holds; fails with `waiting()`'s account after `timeoutMs`. */
export async function waitUntil(
  done: () => boolean,
  waiting: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${waiting()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A header of a raw stream entry (XRANGE fields), in either layout: `h` (JSON) or `h:<name>`. */
export function entryHeader(fields: string[], name: string): string | undefined {
  const single = fields.indexOf(`h:${name}`);
  if (single >= 0) return fields[single + 1];
  const packed = fields.indexOf('h');
  return packed >= 0 ? (JSON.parse(fields[packed + 1]!) as Record<string, string>)[name] : undefined;
}
