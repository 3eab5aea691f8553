import { BrokerError, DEAD_LETTER_HEADROOM_BYTES, type Delivery } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createKafkaTransport, KAFKA_MAX_MESSAGE_BYTES } from '../src/index.ts';
import type { KafkaOptions } from '../src/options.ts';
import {
  closeAll,
  JAVA_MURMUR2,
  KAFKA_URL,
  message,
  openTransport as openWith,
  PRODUCERS,
  text,
  uniqueName,
  waitUntil,
} from './helpers.ts';

describe.skipIf(!KAFKA_URL).each(PRODUCERS)(
  'kafka transport (%s producer) against a real broker',
  (producer) => {
    afterEach(closeAll);
    const openTransport = (overrides: Partial<KafkaOptions> = {}) => openWith({ producer, ...overrides });

    it('round-trips body, key and headers (non-ASCII too), in order per key', async () => {
      const transport = await openTransport();
      const topic = uniqueName('roundtrip');
      await transport.provision(topic, ['g']);
      const headers = { 'x-greeting': 'grüße, 世界 🚀', ce_id: 'id-1', 'content-type': 'application/avro' };
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => transport.publish(message(topic, i, `k${i % 5}`, headers))),
      );
      await transport.publish({ topic, key: 'empty', body: new Uint8Array(0), headers: {} });

      const received: Delivery[] = [];
      await transport.subscribe({
        topic,
        group: 'g',
        maxInFlight: 50,
        onDelivery: async (d) => {
          received.push(d);
          await d.ack();
        },
        onError: (e) => expect.fail(e.message),
      });
      await waitUntil(
        () => received.length >= 201,
        () => `${received.length} of 201 received`,
      );
      const first = received.find((d) => d.headers.seq === '0')!;
      expect(first.key).toBe('k0');
      expect(text(first)).toBe('event-0');
      expect(first.headers).toMatchObject(headers);
      expect(first.deliveryCount).toBeUndefined();
      expect(received.find((d) => d.key === 'empty')!.body.byteLength).toBe(0);
      for (let k = 0; k < 5; k++) {
        const seqs = received.filter((d) => d.key === `k${k}`).map((d) => Number(d.headers.seq));
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        expect(seqs).toHaveLength(40);
      }
    });

    it('coalesces concurrent publishes into a few produce requests', async () => {
      const transport = await openTransport();
      const topic = uniqueName('batching');
      await transport.provision(topic, []);
      const before = transport.produceRequests;
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => transport.publish(message(topic, i, `k${i}`))),
      );
      const requests = transport.produceRequests - before;
      expect(requests).toBeGreaterThanOrEqual(1);
      expect(requests).toBeLessThanOrEqual(3);
    });

    it('splits a burst on one key into requests under the broker record-batch limit', async () => {
      const transport = await openTransport();
      const topic = uniqueName('burst');
      await transport.provision(topic, []);
      const headers = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`ce_h${i}`, 'v'.repeat(20)]));
      const body = new Uint8Array(200);
      const before = transport.produceRequests;
      await Promise.all(
        Array.from({ length: 5000 }, () => transport.publish({ topic, key: 'one', body, headers })),
      );
      expect(transport.produceRequests - before).toBeGreaterThan(1);
    });

    it('places a key on the partition the Java client would (murmur2, positive, mod partitions)', async () => {
      // 12 partitions: with a power of two, a hash made positive the wrong way (>>> 0) would land alike.
      const transport = await openTransport({ partitions: 12 });
      const topic = uniqueName('murmur2');
      await transport.provision(topic, []);
      const { Kafka } = (await import('kafkajs')).default;
      const admin = new Kafka({ brokers: transport.options.brokers, logLevel: 0 }).admin();
      await admin.connect();
      try {
        for (const [key, hash] of Object.entries(JAVA_MURMUR2)) {
          const before = await admin.fetchTopicOffsets(topic);
          await transport.publish({ topic, key, body: new Uint8Array([1]), headers: {} });
          const after = await admin.fetchTopicOffsets(topic);
          const grown = after.filter((p) => p.high !== before.find((b) => b.partition === p.partition)?.high);
          expect(
            grown.map((p) => p.partition),
            key,
          ).toEqual([(hash & 0x7fffffff) % 12]);
        }
      } finally {
        await admin.disconnect();
      }
    });

    it('never commits past an unacked delivery: a later consumer of the group gets it again', async () => {
      const topic = uniqueName('commit');
      const first = await openTransport();
      await first.provision(topic, ['g']);
      for (let i = 0; i < 5; i++) await first.publish(message(topic, i, 'same-key'));

      const held: Delivery[] = [];
      const subscription = await first.subscribe({
        topic,
        group: 'g',
        maxInFlight: 10,
        onDelivery: async (d) => {
          held.push(d);
        },
        onError: () => {},
      });
      await waitUntil(
        () => held.length === 5,
        () => `${held.length} of 5 held`,
      );
      // Ack out of order, leaving seq 1 unsettled; 0 is the only prefix that may be committed.
      for (const d of held) if (d.headers.seq !== '1') await d.ack();
      await subscription.stop();
      await subscription.close();

      const second = await openTransport();
      const again: string[] = [];
      await second.subscribe({
        topic,
        group: 'g',
        maxInFlight: 10,
        onDelivery: async (d) => {
          again.push(d.headers.seq!);
          await d.ack();
        },
        onError: () => {},
      });
      await waitUntil(
        () => again.length >= 4,
        () => `redelivered: ${again.join(',')}`,
      );
      expect(again).toEqual(['1', '2', '3', '4']);
    });

    it('keeps at most maxInFlight deliveries unsettled', async () => {
      const transport = await openTransport();
      const topic = uniqueName('inflight');
      await transport.provision(topic, ['g']);
      await Promise.all(
        Array.from({ length: 300 }, (_, i) => transport.publish(message(topic, i, `k${i % 7}`))),
      );
      let unsettled = 0;
      let peak = 0;
      let done = 0;
      await transport.subscribe({
        topic,
        group: 'g',
        maxInFlight: 7,
        onDelivery: async (d) => {
          unsettled++;
          peak = Math.max(peak, unsettled);
          setTimeout(() => {
            unsettled--;
            done++;
            void d.ack();
          }, 2);
        },
        onError: () => {},
      });
      await waitUntil(
        () => done === 300,
        () => `${done} of 300 done`,
      );
      expect(peak).toBe(7);
    });

    it('rejects a message over maxMessageBytes + the dead-letter headroom before sending, and round-trips one at the limit', async () => {
      const transport = await openTransport();
      const topic = uniqueName('large');
      await transport.provision(topic, ['g']);
      const headers = { ce_type: 'big' };
      const atLimit = new Uint8Array(KAFKA_MAX_MESSAGE_BYTES - 'ce_type'.length - 'big'.length);
      await transport.publish({ topic, key: 'a-key-is-not-counted', body: atLimit, headers });
      await expect(
        transport.publish({
          topic,
          key: 'k',
          body: new Uint8Array(atLimit.byteLength + DEAD_LETTER_HEADROOM_BYTES + 1),
          headers,
        }),
      ).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
      let size = -1;
      await transport.subscribe({
        topic,
        group: 'g',
        maxInFlight: 4,
        onDelivery: async (d) => {
          size = d.body.byteLength;
          await d.ack();
        },
        onError: () => {},
      });
      await waitUntil(
        () => size >= 0,
        () => 'large event not received',
      );
      expect(size).toBe(atLimit.byteLength);
    });

    it('publishes after close throw a typed error; close twice is harmless', async () => {
      const transport = await openTransport();
      await transport.close();
      await transport.close();
      await expect(transport.publish(message(uniqueName('closed'), 0))).rejects.toMatchObject({
        code: 'CLOSED',
      });
    });
  },
);

describe('kafka transport errors', () => {
  it('says the broker cannot be reached, names it, and never prints the password (error and logs)', async () => {
    const logged: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const record = (level: string) => (fields: Record<string, unknown>, message: string) =>
      void logged.push({ level, fields, message });
    const logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    const transport = createKafkaTransport(
      'kafka://alice:hunter2@127.0.0.1:1?sasl=plain',
      { connectionTimeoutMs: 500 },
      { logger },
    );
    const error = await transport.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as Error).message).toMatch(
      /^\[omnibus\] \[kafka\] cannot reach 127\.0\.0\.1:1 — is the broker running\? \(connecting: /,
    );
    expect((error as Error).message).not.toContain('hunter2');
    // kafkajs's connection errors reached the logger (at error level, prefixed), not the console.
    expect(logged).toContainEqual(
      expect.objectContaining({ level: 'error', message: expect.stringMatching(/^\[omnibus\] \[kafka\] /) }),
    );
    expect(JSON.stringify(logged)).not.toContain('hunter2');
  });
});
