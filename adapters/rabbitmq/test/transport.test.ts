import { brokerUrl } from '@omnibus/brokers-dev';
import { BrokerError, DEAD_LETTER_HEADROOM_BYTES, MessageTooLargeError, partitionOf } from '@omnibus/core';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport } from '../src/index.ts';
import { partitionQueueName } from '../src/topology.ts';
import { bodyText, collector, Fixture, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

describe.skipIf(!url)('rabbitmq transport', () => {
  const fixture = new Fixture(url!);
  afterEach(() => fixture.cleanUp());

  it('round-trips body, key and headers (non-ASCII too) under CloudEvents AMQP names', async () => {
    const transport = await fixture.transport();
    const topic = uniqueTopic('roundtrip');
    fixture.track(topic, ['g']);
    const { request, deliveries } = collector({ topic, group: 'g' });
    await transport.subscribe(request);
    const headers = {
      ce_id: 'id-1',
      ce_type: 'shop.order.placed',
      ce_time: '2026-01-02T03:04:05.000Z',
      'content-type': 'application/avro',
      'x-tenant': 'Zürich — 東京 ✓ 🚀',
    };
    await transport.publish({ topic, key: 'order-ä', body: Buffer.from('héllo'), headers });
    await until(
      () => deliveries.length === 1,
      () => 'the delivery',
    );
    const [delivery] = deliveries;
    expect(delivery!.key).toBe('order-ä');
    expect(bodyText(delivery!)).toBe('héllo');
    expect(delivery!.headers).toEqual(headers);
    expect(delivery!.deliveryCount).toBe(1);
    await delivery!.ack();

    // On the wire: CloudEvents AMQP binding names and the content-type property.
    const raw = await amqp.connect(url!);
    const channel = await raw.createChannel();
    await transport.publish({ topic, key: 'k', body: Buffer.from('x'), headers });
    await transport.close(); // its consumers are gone, so the message stays in its queue
    const queue = partitionQueueName(topic, 'g', partitionOf('k', 4));
    // basic.get is refused on single-active-consumer quorum queues: consume one instead.
    const message = await new Promise<amqp.ConsumeMessage>((resolve) => {
      void channel.consume(queue, (m) => m && resolve(m), { noAck: true });
    });
    await raw.close();
    expect(message.properties.contentType).toBe('application/avro');
    expect(message.properties.deliveryMode).toBe(2);
    expect(message.properties.headers).toMatchObject({
      cloudEvents_id: 'id-1',
      cloudEvents_type: 'shop.order.placed',
      cloudEvents_partitionkey: 'k',
      'x-tenant': 'Zürich — 東京 ✓ 🚀',
    });
    expect(message.properties.headers).not.toHaveProperty('ce_id');
  });

  it('routes a key to one partition queue, stably, and spreads unkeyed events', async () => {
    expect(partitionOf('order-1', 4)).toBe(partitionOf('order-1', 4));
    expect(new Set(Array.from({ length: 100 }, (_, i) => partitionOf(`k${i}`, 4))).size).toBe(4);
    const transport = await fixture.transport();
    const topic = uniqueTopic('routing');
    fixture.track(topic, ['g']);
    await transport.provision(topic, ['g']);
    for (let i = 0; i < 12; i++)
      await transport.publish({ topic, key: 'same', body: Buffer.from(String(i)), headers: {} });
    for (let i = 0; i < 8; i++) await transport.publish({ topic, body: Buffer.from('u'), headers: {} });
    const raw = await amqp.connect(url!);
    const channel = await raw.createChannel();
    const counts = [];
    for (let p = 0; p < 4; p++)
      counts.push((await channel.checkQueue(partitionQueueName(topic, 'g', p))).messageCount);
    await raw.close();
    const keyed = partitionOf('same', 4);
    expect(counts[keyed]).toBe(12 + 2);
    expect(counts.filter((_, p) => p !== keyed)).toEqual([2, 2, 2]);
  });

  it('keeps events published after provision for a group that subscribes later, in key order', async () => {
    const transport = await fixture.transport();
    const topic = uniqueTopic('persistent');
    fixture.track(topic, ['late']);
    await transport.provision(topic, ['late']);
    for (let i = 0; i < 50; i++)
      await transport.publish({ topic, key: `k${i % 5}`, body: Buffer.from(String(i)), headers: {} });
    const { request, deliveries } = collector({ topic, group: 'late', maxInFlight: 100 });
    await transport.subscribe(request);
    await until(
      () => deliveries.length === 50,
      () => `${deliveries.length} of 50`,
    );
    for (let k = 0; k < 5; k++) {
      const seen = deliveries.filter((d) => d.key === `k${k}`).map((d) => Number(bodyText(d)));
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
  });

  it('publishes through a confirm window: thousands of concurrent publishes all confirmed', async () => {
    const transport = await fixture.transport({ confirmWindow: 64 });
    const topic = uniqueTopic('window');
    fixture.track(topic, ['g']);
    await transport.provision(topic, ['g']);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 3000 }, (_, i) =>
        transport.publish({ topic, key: `k${i % 50}`, body: Buffer.alloc(100), headers: {} }),
      ),
    );
    const elapsed = Date.now() - started;
    const raw = await amqp.connect(url!);
    const channel = await raw.createChannel();
    let total = 0;
    for (let p = 0; p < 4; p++)
      total += (await channel.checkQueue(partitionQueueName(topic, 'g', p))).messageCount;
    await raw.close();
    expect(total).toBe(3000);
    // One await per confirm would take tens of seconds here; the window takes a few.
    expect(elapsed).toBeLessThan(20_000);
  });

  it('rejects a publish to a topic with no queue bound, unless unroutable=drop', async () => {
    const topic = uniqueTopic('unroutable');
    fixture.track(topic, []);
    const strict = await fixture.transport();
    const error = await strict
      .publish({ topic, body: Buffer.from('x'), headers: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(String((error as Error).message)).toMatch(/no queue is bound.*provision/);
    const lenient = await fixture.transport({}, `${url}?unroutable=drop`);
    await expect(lenient.publish({ topic, body: Buffer.from('x'), headers: {} })).resolves.toBeUndefined();
  });

  it('refuses a message over maxMessageBytes + the dead-letter headroom before sending', async () => {
    const transport = await fixture.transport({ maxMessageBytes: 1000 });
    const topic = uniqueTopic('large');
    fixture.track(topic, []);
    await expect(
      transport.publish({ topic, body: Buffer.alloc(1000 + DEAD_LETTER_HEADROOM_BYTES + 1), headers: {} }),
    ).rejects.toBeInstanceOf(MessageTooLargeError);
  });

  it('names the broker without its password when it cannot connect', async () => {
    const transport = createTransport(new URL('amqp://someone:s3cret-pw@127.0.0.1:1/?connectTimeout=2000'));
    const error = (await Promise.resolve(transport)
      .then((t) => t.connect())
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toContain('[rabbitmq]');
    expect(error.message).toContain('amqp://someone:***@127.0.0.1:1');
    expect(error.message).not.toContain('s3cret-pw');
  });

  it('maps x-delivery-count to a 1-based deliveryCount on redelivery', async () => {
    const transport = await fixture.transport();
    const topic = uniqueTopic('count');
    fixture.track(topic, ['g']);
    const { request, deliveries } = collector({ topic, group: 'g' });
    await transport.subscribe(request);
    await transport.publish({ topic, key: 'k', body: Buffer.from('x'), headers: {} });
    await until(
      () => deliveries.length === 1,
      () => 'first delivery',
    );
    await deliveries[0]!.release();
    await until(
      () => deliveries.length === 2,
      () => 'redelivery',
    );
    expect(deliveries.map((d) => d.deliveryCount)).toEqual([1, 2]);
    await deliveries[1]!.ack();
  });
});
