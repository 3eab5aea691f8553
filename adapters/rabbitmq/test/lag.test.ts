import { brokerUrl } from '@omnibus/brokers-dev';
import { afterEach, describe, expect, it } from 'vitest';
import { collector, Fixture, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

/** Polls `read` until it answers `expected`; fails with the last answer after `timeoutMs`. */
async function pollLag(
  read: () => Promise<number | undefined>,
  expected: number,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await read();
    if (last === expected) return;
    if (Date.now() > deadline) throw new Error(`lag is still ${last} after ${timeoutMs} ms, not ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const event = (topic: string, i: number, key: string) => ({
  topic,
  key,
  body: Buffer.from(`event ${i}`),
  headers: { seq: String(i) },
});

describe.skipIf(!url)('rabbitmq: consumer lag', () => {
  const fixture = new Fixture(url!);
  afterEach(() => fixture.cleanUp());

  it('sums the ready messages of the group’s partition queues, per group, down to 0 once consumed', async () => {
    const transport = await fixture.transport();
    const topic = uniqueTopic('lag');
    fixture.track(topic, ['g', 'other']);
    await transport.provision(topic, ['g', 'other']);
    expect(await transport.lag(topic, 'g')).toBe(0);
    expect(await transport.lag(topic, 'never-provisioned')).toBeUndefined();
    for (let i = 0; i < 14; i++) await transport.publish(event(topic, i, `k${i}`)); // over every partition queue
    await pollLag(() => transport.lag(topic, 'g'), 14);
    expect(await transport.lag(topic, 'other')).toBe(14);

    const { request, deliveries, errors } = collector({
      topic,
      group: 'g',
      onDelivery: async (d) => {
        deliveries.push(d);
        await d.ack();
      },
    });
    await transport.subscribe(request);
    await until(
      () => deliveries.length === 14,
      () => `${deliveries.length} of 14 consumed`,
    );
    await pollLag(() => transport.lag(topic, 'g'), 0);
    expect(await transport.lag(topic, 'other')).toBe(14);
    expect(errors).toEqual([]);
  });

  it('does not count the deliveries a consumer holds unacknowledged (its prefetch)', async () => {
    const transport = await fixture.transport();
    const topic = uniqueTopic('lag-held');
    fixture.track(topic, ['g']);
    await transport.provision(topic, ['g']);
    for (let i = 0; i < 6; i++) await transport.publish(event(topic, i, 'one-key')); // one partition queue
    await pollLag(() => transport.lag(topic, 'g'), 6);
    // Prefetch 2 on the partition queue: the broker hands out two at a time, each pair once the last is acked.
    const { request, deliveries, errors } = collector({ topic, group: 'g', maxInFlight: 2 });
    await transport.subscribe(request);
    for (let acked = 0; acked < 6; acked += 2) {
      await until(
        () => deliveries.length === acked + 2,
        () => `${deliveries.length} delivered, ${acked} acked`,
      );
      await pollLag(() => transport.lag(topic, 'g'), 6 - acked - 2);
      await Promise.all(deliveries.slice(acked).map((d) => d.ack()));
    }
    await pollLag(() => transport.lag(topic, 'g'), 0);
    expect(errors).toEqual([]);
  });
});
