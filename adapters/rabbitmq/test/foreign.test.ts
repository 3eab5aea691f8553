// A producer that is not omnibus, publishing with its own AMQP client as the CloudEvents AMQP binding
// describes: attributes as application properties named `cloudEvents:<attr>` (the binding's example) or
// `cloudEvents_<attr>`, `time` as an AMQP timestamp, the Avro single-object body.
import { brokerUrl } from '@omnibus/brokers-dev';
import { createBus, defineEvent, type EventContext, partitionOf } from '@omnibus/core';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { exchangeName } from '../src/topology.ts';
import { Fixture, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

describe.skipIf(!url)('rabbitmq: events from a producer that is not omnibus', () => {
  const fixture = new Fixture(url!);
  afterEach(() => fixture.cleanUp());

  it('reads native AMQP attribute types, both prefixes of the binding, and the structured content mode', async () => {
    const topic = uniqueTopic('foreign');
    const Thing = defineEvent({
      type: 'foreign.thing',
      version: 1,
      topic,
      avro: { type: 'record', name: 'Thing', fields: [{ name: 'n', type: 'int' }] } as const,
    });
    fixture.track(topic, ['g']);
    const bus = await createBus({ transport: await fixture.transport() });
    const seen: { n: number; context: EventContext }[] = [];
    await bus.subscribe(Thing, { group: 'g' }, (event, context) => void seen.push({ n: event.n, context }));

    const connection = await amqp.connect(url!);
    const channel = await connection.createConfirmChannel();
    const time = new Date('2026-05-06T07:08:09.000Z');
    const send = (n: number, headers: Record<string, unknown>, structured?: Record<string, unknown>) =>
      new Promise<void>((resolve, reject) =>
        channel.publish(
          exchangeName(topic),
          String(partitionOf('order-1', 4)),
          structured
            ? Buffer.from(
                JSON.stringify({ ...structured, data_base64: Thing.encode({ n }).toString('base64') }),
              )
            : Thing.encode({ n }),
          {
            contentType: structured ? 'application/cloudevents+json' : 'application/avro',
            persistent: true,
            headers,
          },
          (error) => (error ? reject(error) : resolve()),
        ),
      );
    await send(1, {
      'cloudEvents:id': 'a-1',
      'cloudEvents:source': 'urn:example:java-service',
      'cloudEvents:specversion': '1.0',
      'cloudEvents:type': Thing.type,
      'cloudEvents:time': { '!': 'timestamp', value: time.getTime() / 1000 },
      'cloudEvents:partitionkey': 'order-1',
    });
    await send(2, {
      cloudEvents_id: 'a-2',
      cloudEvents_source: 'urn:example:java-service',
      cloudEvents_specversion: '1.0',
      cloudEvents_type: Thing.type,
      cloudEvents_time: time.toISOString(),
      cloudEvents_partitionkey: 'order-1',
      'x-count': 3,
    });
    // Structured content mode: the attributes and the Avro bytes in one JSON body, the key as an extension.
    await send(
      3,
      {},
      {
        specversion: '1.0',
        id: 'a-3',
        source: 'urn:example:java-service',
        type: Thing.type,
        time: time.toISOString(),
        partitionkey: 'order-1',
      },
    );
    await connection.close();
    await until(
      () => seen.length === 3,
      () => `${seen.length} of 3 events`,
    );
    expect(
      seen.map(({ n, context }) => [n, context.id, context.source, context.time?.toISOString(), context.key]),
    ).toEqual([
      [1, 'a-1', 'urn:example:java-service', time.toISOString(), 'order-1'],
      [2, 'a-2', 'urn:example:java-service', time.toISOString(), 'order-1'],
      [3, 'a-3', 'urn:example:java-service', time.toISOString(), 'order-1'],
    ]);
    expect(seen[1]!.context.headers).toEqual({ 'x-count': '3' });
    await bus.close();
  });
});
