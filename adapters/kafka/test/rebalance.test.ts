import type { Delivery } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, KAFKA_URL, message, openTransport, uniqueName, waitUntil } from './helpers.ts';

describe.skipIf(!KAFKA_URL)('kafka: members joining and leaving mid-stream', () => {
  afterEach(closeAll);

  it('a second member joining mid-stream takes partitions without losing events or reordering a key', async () => {
    const topic = uniqueName('rebalance');
    const publisher = await openTransport();
    await publisher.provision(topic, ['g']);
    const starts = new Map<string, number[]>();
    const done = new Set<number>();
    const byMember = [0, 0];
    // Per key one at a time, as the core runs it: start, a little work, ack, then the next of that key.
    const member = (index: number) => {
      const tails = new Map<string, Promise<void>>();
      return async (d: Delivery) => {
        const key = d.key!;
        const run = (tails.get(key) ?? Promise.resolve()).then(async () => {
          const seq = Number(d.headers.seq);
          starts.set(key, [...(starts.get(key) ?? []), seq]);
          await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
          byMember[index]!++;
          done.add(seq);
          await d.ack();
        });
        tails.set(key, run);
      };
    };
    const first = await openTransport();
    await first.subscribe({ topic, group: 'g', maxInFlight: 40, onDelivery: member(0), onError: () => {} });
    const publish = (from: number) =>
      Promise.all(
        Array.from({ length: 1500 }, (_, i) =>
          publisher.publish(message(topic, from + i, `k${(from + i) % 30}`)),
        ),
      );
    await publish(0);
    await waitUntil(
      () => done.size >= 300,
      () => `${done.size} done before the second member joins`,
    );
    const second = await openTransport();
    await second.subscribe({ topic, group: 'g', maxInFlight: 40, onDelivery: member(1), onError: () => {} });
    // The rebalance happened while the first member held events; partitions are split from here on.
    await publish(1500);
    await waitUntil(
      () => done.size === 3000,
      () => `${3000 - done.size} of 3000 never completed`,
      90_000,
    );
    expect(byMember[1]).toBeGreaterThan(0);
    for (const [key, seqs] of starts) {
      const firstStarts = [...new Set(seqs)];
      expect(firstStarts, key).toEqual([...firstStarts].sort((a, b) => a - b));
    }
  });
});
