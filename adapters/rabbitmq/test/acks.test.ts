import { brokerUrl } from '@omnibus/brokers-dev';
import { afterAll, describe, expect, it } from 'vitest';
import { bodyText, Fixture, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

describe.skipIf(!url)('rabbitmq: acknowledgements sent together', () => {
  const fixture = new Fixture(url!);
  afterAll(() => fixture.cleanUp());

  it('never acknowledge a delivery still held in front of acked ones: it comes back when the channel closes', async () => {
    const topic = uniqueTopic('acks');
    fixture.track(topic, ['g'], 1);
    const transport = await fixture.transport({ partitions: 1 });
    await transport.provision(topic, ['g']);
    for (const body of ['a', 'b', 'c', 'd'])
      await transport.publish({ topic, key: body, body: Buffer.from(body), headers: {} });

    // `a` is held while `b`, `c` and `d` (behind it on the same channel) are acked in one turn.
    const acked: string[] = [];
    const first = await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 4,
      onDelivery: async (delivery) => {
        if (bodyText(delivery) === 'a') return; // held: neither acked nor released
        await delivery.ack();
        acked.push(bodyText(delivery));
      },
      onError: () => {},
    });
    await until(
      () => acked.length === 3,
      () => `acked ${acked.join(', ')}`,
      10_000,
    );
    await first.close();

    const again: string[] = [];
    const second = await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 4,
      onDelivery: async (delivery) => {
        again.push(bodyText(delivery));
        await delivery.ack();
      },
      onError: () => {},
    });
    await until(
      () => again.length >= 1,
      () => `redelivered: ${again.join(', ')}`,
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // anything else that would come back
    await second.close();
    expect(acked.sort()).toEqual(['b', 'c', 'd']);
    expect(again).toEqual(['a']);
  });
});
