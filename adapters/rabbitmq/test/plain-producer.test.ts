// routing=hash: a producer that is not omnibus publishes the plain way — exchange = the topic, routing key =
// the event's key, a CloudEvents binary-mode message from plain amqplib — and the broker's consistent-hash
// exchange of each group picks the partition, the same one omnibus's own publishes of that key reach.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import { BrokerError, ConfigError, type Delivery } from '@omnibus/core';
import amqp, { type ConfirmChannel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionManager } from '../src/connection.ts';
import { DEFAULT_OPTIONS, parseRabbitMqUrl } from '../src/options.ts';
import { declareFirstHashExchange, groupExchangeName } from '../src/routing.ts';
import { partitionQueueName } from '../src/topology.ts';
import { Fixture, KeyedConsumer, keyOrderViolations, sleep, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');
const hash = { routing: 'hash' } as const;

/** The hash ring of a consistent-hash exchange, bucket → queue, read with rabbitmqctl from a local broker. */
function hashRing(exchange: string): string[] | undefined {
  if (!url || !['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) return undefined;
  let out: string;
  try {
    const call = `rabbit_exchange_type_consistent_hash:ring_state(<<"/">>, <<"${exchange}">>).`;
    out = execFileSync('rabbitmqctl', ['eval', call], { encoding: 'utf8', timeout: 20_000 });
  } catch {
    return undefined;
  }
  const ring: string[] = [];
  for (const [, bucket, queue] of out
    .replace(/\s+/g, '')
    .matchAll(/(\d+)=>\{resource,<<"[^"]*">>,queue,<<"([^"]*)">>\}/g))
    ring[Number(bucket)] = queue!;
  return ring;
}

describe.skipIf(!url)('rabbitmq routing=hash: producers that are not omnibus', () => {
  const fixture = new Fixture(url!);
  let connection: amqp.ChannelModel;
  let channel: ConfirmChannel;
  beforeAll(async () => {
    connection = await amqp.connect(url!);
    channel = await connection.createConfirmChannel();
  });
  afterAll(() => connection.close());
  afterEach(() => fixture.cleanUp());

  /** Plain amqplib, CloudEvents binary mode, no `cloudEvents_partitionkey`: the routing key is the key. */
  const plainPublish = (topic: string, routingKey: string, body: string) =>
    new Promise<void>((resolve, reject) =>
      channel.publish(
        topic,
        routingKey,
        Buffer.from(body),
        {
          contentType: 'text/plain',
          persistent: true,
          messageId: randomUUID(),
          headers: {
            cloudEvents_specversion: '1.0',
            cloudEvents_id: randomUUID(),
            cloudEvents_source: 'urn:example:java-service',
            cloudEvents_type: 'plain.thing',
          },
        },
        (error) => (error ? reject(error) : resolve()),
      ),
    );

  /** Ready messages per partition queue of `group` (no consumer attached). */
  const depths = async (topic: string, group: string) => {
    const inspect = await connection.createChannel();
    const out: number[] = [];
    for (let p = 0; p < DEFAULT_OPTIONS.partitions; p++)
      out.push((await inspect.checkQueue(partitionQueueName(topic, group, p))).messageCount);
    await inspect.close();
    return out;
  };

  it('fans out to every group and keeps per-key order across two instances, mixed with omnibus publishes', async () => {
    const topic = uniqueTopic('plain');
    fixture.track(topic, ['a', 'b']);
    const [first, second, other, publisher] = [
      await fixture.transport(hash),
      await fixture.transport(hash),
      await fixture.transport(hash),
      await fixture.transport(hash),
    ];
    const startsA: KeyedConsumer['starts'] = [];
    const startsB: KeyedConsumer['starts'] = [];
    const work = () => sleep(Math.random() * 3);
    const keysSeen = new Map<string, string | undefined>();
    const recording = (consumer: KeyedConsumer) => async (delivery: Delivery) => {
      keysSeen.set(Buffer.from(delivery.body).toString(), delivery.key);
      await consumer.onDelivery(delivery);
    };
    const a1 = new KeyedConsumer('a1', startsA, work);
    const a2 = new KeyedConsumer('a2', startsA, work);
    const b = new KeyedConsumer('b', startsB, work);
    const subscribe = (transport: typeof first, group: string, consumer: KeyedConsumer) =>
      transport.subscribe({
        topic,
        group,
        maxInFlight: 8,
        onDelivery: recording(consumer),
        onError: () => {},
      });
    await subscribe(first, 'a', a1);
    await subscribe(second, 'a', a2);
    await subscribe(other, 'b', b);

    // Round `seq`: every key gets event `seq`, from plain amqplib on even rounds and from omnibus on odd
    // ones; a round is confirmed (stored) before the next starts, so per key the queue order is seq order.
    const keys = Array.from({ length: 12 }, (_, k) => `order-${k}`);
    const rounds = 40;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        keys.map((key, k) => {
          const body = String(round * keys.length + k);
          return round % 2 === 0
            ? plainPublish(topic, key, body)
            : publisher.publish({ topic, key, body: Buffer.from(body), headers: {} });
        }),
      );
    }
    const total = rounds * keys.length;
    const distinct = (starts: KeyedConsumer['starts']) => new Set(starts.map((s) => s.body)).size;
    await until(
      () => distinct(startsA) === total && distinct(startsB) === total,
      () => `group a ${distinct(startsA)}/${total}, group b ${distinct(startsB)}/${total}`,
    );
    expect(keyOrderViolations(startsA)).toEqual([]);
    expect(keyOrderViolations(startsB)).toEqual([]);
    expect(a1.count).toBeGreaterThan(0);
    expect(a2.count).toBeGreaterThan(0);
    // A plain message's key is its routing key; an omnibus one's its cloudEvents_partitionkey: the same.
    for (let n = 0; n < total; n++) expect(keysSeen.get(String(n))).toBe(keys[n % keys.length]);
  });

  it('puts a key in the same partition whether omnibus or a plain producer publishes it, and spreads keys', async () => {
    const topic = uniqueTopic('plainpart');
    fixture.track(topic, ['g']);
    const publisher = await fixture.transport(hash);
    await publisher.provision(topic, ['g']);
    for (let k = 0; k < 24; k++) {
      const key = `customer-${k}`;
      const before = await depths(topic, 'g');
      await plainPublish(topic, key, 'plain');
      const plain = await depths(topic, 'g');
      await publisher.publish({ topic, key, body: Buffer.from('omnibus'), headers: {} });
      const after = await depths(topic, 'g');
      const grew = (from: number[], to: number[]) => to.findIndex((n, p) => n > from[p]!);
      expect(grew(plain, after), `partition of ${key}`).toBe(grew(before, plain));
    }

    // 2000 keys over 4 partitions: each gets a fair share (measured: see the README).
    const spread = uniqueTopic('plainspread');
    fixture.track(spread, ['g']);
    await publisher.provision(spread, ['g']);
    await Promise.all(Array.from({ length: 2000 }, (_, k) => plainPublish(spread, `key-${k}`, '')));
    const counts = await depths(spread, 'g');
    expect(counts.reduce((x, y) => x + y)).toBe(2000);
    for (const count of counts) expect(count).toBeGreaterThan(350);
  });

  it('numbers the hash ring in queue-name order, the order the broker rebuilds it in after a restart', async (context) => {
    const topic = uniqueTopic('plainring');
    fixture.track(topic, ['g'], 12);
    const transport = await fixture.transport({ ...hash, partitions: 12 });
    await transport.provision(topic, ['g']);
    const ring = hashRing(groupExchangeName(topic, 'g'));
    if (!ring) return context.skip('rabbitmqctl does not drive the broker under test');
    // On boot the plugin re-adds a durable exchange's bindings sorted (by queue name): …10, …11 before …2.
    const names = Array.from({ length: 12 }, (_, p) => partitionQueueName(topic, 'g', p));
    expect(ring).toEqual([...names].sort());
    expect(ring.slice(0, 4)).toEqual([names[0], names[1], names[10], names[11]]);
  });

  it('takes an empty or topic-name routing key as no key: one fixed partition', async () => {
    const topic = uniqueTopic('plainnokey');
    fixture.track(topic, ['g']);
    const transport = await fixture.transport(hash);
    await transport.provision(topic, ['g']);
    for (let n = 0; n < 6; n++) await plainPublish(topic, '', `empty-${n}`);
    expect((await depths(topic, 'g')).filter((n) => n > 0)).toEqual([6]);
    for (let n = 0; n < 6; n++) await plainPublish(topic, topic, `topic-${n}`);
    expect((await depths(topic, 'g')).filter((n) => n > 0).reduce((x, y) => x + y)).toBe(12);
    const seen: Array<[string, string | undefined]> = [];
    await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 1,
      onDelivery: async (delivery) => {
        seen.push([Buffer.from(delivery.body).toString(), delivery.key]);
        await delivery.ack();
      },
      onError: () => {},
    });
    await until(
      () => seen.length === 12,
      () => `${seen.length}/12`,
    );
    expect(seen.every(([, key]) => key === undefined)).toBe(true);
  });

  it('still refuses a publish no group receives (mandatory through the exchange-to-exchange binding)', async () => {
    const topic = uniqueTopic('plainunroutable');
    fixture.track(topic, []);
    const transport = await fixture.transport(hash);
    await expect(transport.publish({ topic, key: 'k', body: Buffer.from('x'), headers: {} })).rejects.toThrow(
      BrokerError,
    );
  });

  it('refuses a topic made in the other routing mode, either way, with a ConfigError', async () => {
    const fnvTopic = uniqueTopic('modefnv');
    const hashTopic = uniqueTopic('modehash');
    fixture.track(fnvTopic, ['g']);
    fixture.track(hashTopic, ['g']);
    const fnvTransport = await fixture.transport();
    const hashTransport = await fixture.transport(hash);
    await fnvTransport.provision(fnvTopic, ['g']);
    await hashTransport.provision(hashTopic, ['g']);
    const message = (topic: string) => ({ topic, key: 'k', body: Buffer.from('x'), headers: {} });
    await expect(hashTransport.publish(message(fnvTopic))).rejects.toThrow(/routing=fnv/);
    await expect(hashTransport.provision(fnvTopic, ['g'])).rejects.toThrow(ConfigError);
    await expect(fnvTransport.publish(message(hashTopic))).rejects.toThrow(ConfigError);
    await expect(fnvTransport.provision(hashTopic, ['g'])).rejects.toThrow(/set routing=hash/);
    // The transports still work on their own topics.
    await fnvTransport.publish(message(fnvTopic));
    await hashTransport.publish(message(hashTopic));
  });

  it('says how to enable the plugin when the broker lacks the exchange type, without closing the transport', async () => {
    const { target, options } = parseRabbitMqUrl(new URL(url!));
    const manager = new ConnectionManager(target, options);
    await manager.connect();
    try {
      const refused = declareFirstHashExchange(manager, `omnibus-test-${randomUUID()}`, 'x-no-such-type');
      await expect(refused).rejects.toThrow(ConfigError);
      await expect(refused).rejects.toThrow(/rabbitmq-plugins enable rabbitmq_consistent_hash_exchange/);
      expect(manager.current).toBeDefined(); // the refusal closed a connection of its own
      const channel = await manager.createChannel(manager.current!);
      await channel.close();
    } finally {
      await manager.close();
    }
  });
});
