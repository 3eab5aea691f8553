import { brokerUrl } from '@omnibus/brokers-dev';
import { partitionOf } from '@omnibus/core';
import { afterAll, describe, expect, it } from 'vitest';
import { bodyText, Fixture, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

/** A key of each partition 0..partitions-1 (the adapter's fnv routing). */
function keysByPartition(partitions: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.filter(Boolean).length < partitions; i++) {
    const p = partitionOf(`k${i}`, partitions);
    keys[p] ??= `k${i}`;
  }
  return keys;
}

describe.skipIf(!url)('rabbitmq: a consumer at its maxInFlight', () => {
  const fixture = new Fixture(url!);
  afterAll(() => fixture.cleanUp());

  it('hands over what it holds back once a delivery settles, even when no new message arrives', async () => {
    const topic = uniqueTopic('saturated');
    fixture.track(topic, ['g'], 2);
    const transport = await fixture.transport({ partitions: 2 });
    await transport.provision(topic, ['g']);
    const [k0, k1] = keysByPartition(2);
    // Partition 0 gets one event, partition 1 three: settling partition 0's only event brings nothing new.
    await transport.publish({ topic, key: k0!, body: Buffer.from('p0-1'), headers: {} });
    for (const n of [1, 2, 3])
      await transport.publish({ topic, key: k1!, body: Buffer.from(`p1-${n}`), headers: {} });
    const seen: string[] = [];
    await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 1,
      onDelivery: async (delivery) => {
        seen.push(bodyText(delivery));
        // The first is held until every partition channel has received (and so buffers) its first message.
        if (seen.length === 1) await new Promise((resolve) => setTimeout(resolve, 500));
        await delivery.ack();
      },
      onError: () => {},
    });
    await until(
      () => seen.length === 4,
      () => `${seen.length}/4: ${seen.join(', ')}`,
      10_000,
    );
    expect(seen.filter((b) => b.startsWith('p1-'))).toEqual(['p1-1', 'p1-2', 'p1-3']);
  });
});
