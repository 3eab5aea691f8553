/**
 * Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`) of the key bytes, as a signed 32-bit
 * integer: what the Java client's default partitioner and kafkajs's `DefaultPartitioner` hash keys with.
 * 32-bit integer arithmetic (`Math.imul`), no BigInt, so hashing stays cheap on the publish path.
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // Java's switch falls through: a tail of 3 bytes mixes in all three, of 2 two, of 1 one.
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16;
    if (tail >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition Java's default partitioner (and kafkajs's `DefaultPartitioner`) gives a keyed record:
 * murmur2 of the key made positive with `& 0x7fffffff` (not `Math.abs`), modulo the partition count.
 */
export function keyPartition(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/**
 * A partitioner for `@platformatic/kafka` that places records as kafkajs's `DefaultPartitioner` does:
 * keyed ones by {@link keyPartition}, unkeyed ones round-robin per topic from a random start. It returns
 * a non-negative number that the library reduces modulo the topic's partition count, which for keyed
 * records is exactly `keyPartition` (platformatic's own default uses `>>> 0` instead of Java's mask, so a
 * key with a negative hash would land elsewhere).
 */
export function createJavaCompatiblePartitioner(): (
  message: { topic: string },
  key: Buffer | undefined,
) => number {
  const counters = new Map<string, number>();
  return (message, key) => {
    if (key !== undefined && key !== null) return murmur2(key) & 0x7fffffff;
    const next = ((counters.get(message.topic) ?? Math.floor(Math.random() * 0x7fffffff)) + 1) & 0x7fffffff;
    counters.set(message.topic, next);
    return next;
  };
}
