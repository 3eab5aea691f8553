import { brokerUrl } from '@omnibus/brokers-dev';
import { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../src/index.ts';
import { collector, Fixture, message, uniqueTopic, waitUntil } from './helpers.ts';

/** A Redis Cluster (pnpm brokers:up's 3 masters): REDIS_CLUSTER_URL=redis://h1:7001,h2:7002,h3:7003?cluster=true */
const CLUSTER_URL = brokerUrl('redisCluster');

describe.skipIf(!CLUSTER_URL)('redis: on a Redis Cluster', () => {
  const fixture = new Fixture(CLUSTER_URL!);
  afterEach(() => fixture.cleanUp());

  it('keeps every key of a partition in one slot, spreads partitions over the masters, and consumes across them', async () => {
    const topic = fixture.track(uniqueTopic('cluster'), 'g');
    const transport = await fixture.transport();
    const seen = collector({ topic, group: 'g' });
    await transport.subscribe(seen.request);
    const nodes = parseRedisUrl(CLUSTER_URL!).hosts.map((h) => ({
      host: h.split(':')[0]!,
      port: Number(h.split(':')[1]),
    }));
    const cluster = new Cluster(nodes);
    try {
      const masters = new Set<string>();
      for (let p = 0; p < 16; p++) {
        const stream = `omnibus:{${topic}:${p}}`;
        const slot = await cluster.cluster('KEYSLOT', stream);
        expect(await cluster.cluster('KEYSLOT', `${stream}:lease:g`)).toBe(slot);
        const owner = (await cluster.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to)!;
        masters.add(`${owner[2]![0]}:${owner[2]![1]}`);
        expect(await cluster.exists(stream)).toBe(1);
      }
      expect(masters.size).toBeGreaterThan(1);
      await transport.publishBatch(Array.from({ length: 200 }, (_, i) => message(topic, i, `k${i % 20}`)));
      await waitUntil(
        () => seen.deliveries.length === 200,
        () => `${seen.deliveries.length} of 200 delivered`,
      );
      for (let k = 0; k < 20; k++) {
        const seqs = seen.seqs().filter((s) => s % 20 === k);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    } finally {
      cluster.disconnect();
    }
  });
});
