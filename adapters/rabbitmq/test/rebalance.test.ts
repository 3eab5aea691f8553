import { brokerUrl } from '@omnibus/brokers-dev';
import { afterEach, describe, expect, it } from 'vitest';
import { Fixture, KeyedConsumer, keyOrderViolations, sleep, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

describe.skipIf(!url)('rabbitmq partitions: single active consumer with rebalancing', () => {
  const fixture = new Fixture(url!);
  afterEach(() => fixture.cleanUp());

  it('splits partitions between two instances, keeps per-key order, and hands all to the survivor', async () => {
    const topic = uniqueTopic('rebalance');
    fixture.track(topic, ['g']);
    const [first, second, publisher] = [
      await fixture.transport(),
      await fixture.transport(),
      await fixture.transport(),
    ];
    const starts: KeyedConsumer['starts'] = [];
    const work = () => sleep(Math.random() * 3);
    const a = new KeyedConsumer('a', starts, work);
    const b = new KeyedConsumer('b', starts, work);
    // `first` registers on every partition queue before `second`: plain SAC would give it all of them.
    const subA = await first.subscribe({
      topic,
      group: 'g',
      maxInFlight: 8,
      onDelivery: a.onDelivery,
      onError: () => {},
    });
    await second.subscribe({
      topic,
      group: 'g',
      maxInFlight: 8,
      onDelivery: b.onDelivery,
      onError: () => {},
    });

    const publishRange = async (from: number, to: number) => {
      // Per key in order, keys concurrently (20 keys).
      await Promise.all(
        Array.from({ length: 20 }, async (_, k) => {
          for (let seq = from + k; seq < to; seq += 20) {
            await publisher.publish({ topic, key: `k${k}`, body: Buffer.from(String(seq)), headers: {} });
          }
        }),
      );
    };
    await publishRange(0, 1000);
    await until(
      () => new Set(starts.map((s) => s.body)).size === 1000,
      () => `${new Set(starts.map((s) => s.body)).size}/1000`,
    );
    expect(a.count).toBeGreaterThan(0);
    expect(b.count).toBeGreaterThan(0);
    expect(keyOrderViolations(starts)).toEqual([]);

    // The first instance leaves: its partitions go to the standby.
    await subA.close();
    const before = b.count;
    await publishRange(1000, 1400);
    await until(
      () => new Set(starts.map((s) => s.body)).size === 1400,
      () => `${new Set(starts.map((s) => s.body)).size}/1400`,
    );
    expect(b.count - before).toBeGreaterThanOrEqual(400);
    expect(keyOrderViolations(starts)).toEqual([]);
  });

  it('gives a late-joining instance a share while events are flowing', async () => {
    const topic = uniqueTopic('latejoin');
    fixture.track(topic, ['g']);
    const [first, second, publisher] = [
      await fixture.transport(),
      await fixture.transport(),
      await fixture.transport(),
    ];
    const starts: KeyedConsumer['starts'] = [];
    // Slow enough that work queues up: the newcomer must get a share of what is still queued.
    const a = new KeyedConsumer('a', starts, () => sleep(15));
    const b = new KeyedConsumer('b', starts, () => sleep(15));
    await first.subscribe({ topic, group: 'g', maxInFlight: 8, onDelivery: a.onDelivery, onError: () => {} });
    await publisher.provision(topic, ['g']);
    const publishing = (async () => {
      for (let seq = 0; seq < 600; seq++) {
        await publisher.publish({ topic, key: `k${seq % 30}`, body: Buffer.from(String(seq)), headers: {} });
      }
    })();
    await until(
      () => a.count > 20,
      () => 'first instance to start',
    );
    await second.subscribe({
      topic,
      group: 'g',
      maxInFlight: 8,
      onDelivery: b.onDelivery,
      onError: () => {},
    });
    await publishing;
    await until(
      () => new Set(starts.map((s) => s.body)).size === 600,
      () => `${new Set(starts.map((s) => s.body)).size}/600`,
    );
    expect(b.count).toBeGreaterThan(0);
    expect(keyOrderViolations(starts)).toEqual([]);
  });
});
