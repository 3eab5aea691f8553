import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createJavaCompatiblePartitioner, keyPartition, murmur2 } from '../src/partitioner.ts';
import { JAVA_MURMUR2 } from './helpers.ts';

/** kafkajs's DefaultPartitioner (the kafkajs producer's) for a topic of `partitions` partitions, all led. */
function kafkajsPartition(key: Buffer, partitions: number): number {
  const partitioner = kafkajs.Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  return partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
}

/** Keys of every length 0–64 (all murmur2 tail cases), random bytes, UTF-8 text and typical ids. */
function sampleKeys(): Buffer[] {
  const keys: Buffer[] = [];
  for (let length = 0; length <= 64; length++) for (let n = 0; n < 20; n++) keys.push(randomBytes(length));
  for (let i = 0; i < 2_000; i++) keys.push(Buffer.from(`order-${i}`), Buffer.from(`grüße-世界-🚀-${i}`));
  return keys;
}

describe('the Java-compatible partitioner of the platformatic producer', () => {
  it("hashes like Kafka's Utils.murmur2 (Kafka's own test vectors)", () => {
    for (const [key, hash] of Object.entries(JAVA_MURMUR2)) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });

  it("puts every key on the partition kafkajs's DefaultPartitioner picks, for several partition counts", () => {
    const keys = sampleKeys();
    for (const partitions of [1, 3, 8, 12, 100]) {
      const differing = keys.filter(
        (key) => keyPartition(key, partitions) !== kafkajsPartition(key, partitions),
      );
      expect(
        differing.map((k) => k.toString('hex')),
        `${partitions} partitions`,
      ).toEqual([]);
    }
  });

  it('gives @platformatic/kafka a number whose remainder is that partition (keyed), round-robin otherwise', () => {
    const partitioner = createJavaCompatiblePartitioner();
    // Counts that do not divide 2^31 too: there a sign fixed with `>>> 0` instead of Java's mask shows.
    for (const key of sampleKeys()) {
      const raw = partitioner({ topic: 't' }, key);
      expect(raw).toBeGreaterThanOrEqual(0);
      for (const partitions of [3, 8, 12]) expect(raw % partitions).toBe(kafkajsPartition(key, partitions));
    }
    const unkeyed = Array.from({ length: 16 }, () => partitioner({ topic: 't' }, undefined) % 8);
    expect(new Set(unkeyed).size).toBe(8);
    for (let i = 1; i < unkeyed.length; i++) expect(unkeyed[i]).toBe((unkeyed[i - 1]! + 1) % 8);
  });
});
