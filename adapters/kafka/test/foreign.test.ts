// A producer that is not omnibus — a plain Kafka client — sending omnibus events in both content modes of
// the CloudEvents Kafka binding: binary (ce_ headers) and structured (application/cloudevents+json).
import { createBus, defineEvent, type EventContext } from '@omnibus/core';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, KAFKA_URL, openTransport, uniqueName, waitUntil } from './helpers.ts';

describe.skipIf(!KAFKA_URL)('kafka: events from a producer that is not omnibus', () => {
  afterAll(closeAll);

  it('reads the structured content mode and the binary one', async () => {
    const topic = uniqueName('foreign');
    const Thing = defineEvent({
      type: 'foreign.thing',
      version: 1,
      topic,
      avro: { type: 'record', name: 'Thing', fields: [{ name: 'n', type: 'int' }] } as const,
    });
    const transport = await openTransport();
    const bus = await createBus({ transport });
    const seen: { n: number; context: EventContext }[] = [];
    await bus.subscribe(Thing, { group: 'g' }, (event, context) => void seen.push({ n: event.n, context }));

    const producer = new kafkajs.Kafka({ brokers: transport.options.brokers, logLevel: 0 }).producer();
    await producer.connect();
    const time = '2026-05-06T07:08:09.000Z';
    await producer.send({
      topic,
      messages: [
        {
          key: 'order-1',
          headers: { 'content-type': 'application/cloudevents+json; charset=UTF-8' },
          value: JSON.stringify({
            specversion: '1.0',
            id: 'k-1',
            source: 'urn:example:go-service',
            type: Thing.type,
            time,
            datacontenttype: 'application/avro',
            data_base64: Thing.encode({ n: 1 }).toString('base64'),
          }),
        },
        {
          key: 'order-1',
          headers: {
            ce_specversion: '1.0',
            ce_id: 'k-2',
            ce_source: 'urn:example:go-service',
            ce_type: Thing.type,
            ce_time: time,
            'content-type': 'application/avro',
          },
          value: Thing.encode({ n: 2 }),
        },
      ],
    });
    await producer.disconnect();
    await waitUntil(
      () => seen.length === 2,
      () => `${seen.length} of 2 events`,
    );
    expect(
      seen.map(({ n, context }) => [n, context.id, context.source, context.time?.toISOString(), context.key]),
    ).toEqual([
      [1, 'k-1', 'urn:example:go-service', time, 'order-1'],
      [2, 'k-2', 'urn:example:go-service', time, 'order-1'],
    ]);
    await bus.close();
  });
});
