import type { TransportHealth } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdmin, createKafkaTransport } from '../src/index.ts';
import { closeAll, KAFKA_URL, openTransport, PRODUCERS, uniqueName, waitUntil } from './helpers.ts';

/** Polls `transport.health()` until `wanted` holds; the failure message shows the last answer. */
async function healthUntil(
  transport: { health(): TransportHealth },
  wanted: (health: TransportHealth) => boolean,
  timeoutMs = 60_000,
): Promise<TransportHealth> {
  await waitUntil(
    () => wanted(transport.health()),
    () => `health is still ${JSON.stringify(transport.health())}`,
    timeoutMs,
  );
  return transport.health();
}

describe.skipIf(!KAFKA_URL)('kafka: health()', () => {
  afterEach(closeAll);

  it.each(PRODUCERS)(
    'is connecting before connect(), up once connected, and down once closed (%s producer)',
    async (producer) => {
      const transport = createKafkaTransport(KAFKA_URL!, { sessionTimeoutMs: 6000, producer });
      expect(transport.health()).toEqual({ connection: 'connecting', detail: 'connecting' });
      await transport.connect();
      expect(transport.health()).toEqual({ connection: 'up' });
      await transport.close();
      expect(transport.health()).toEqual({ connection: 'down', detail: 'closed' });
    },
  );

  it('an unreachable broker: connect() fails and health() says down, and why', async () => {
    const transport = createKafkaTransport('kafka://127.0.0.1:1', { connectionTimeoutMs: 1_000 });
    await expect(transport.connect()).rejects.toThrow(/cannot reach 127\.0\.0\.1:1/);
    const health = transport.health();
    expect(health.connection).toBe('down');
    expect(health.detail).toMatch(/cannot reach 127\.0\.0\.1:1 .*ECONNREFUSED/);
    await transport.close();
  });

  it('a consumer that crashes (its topic deleted under it) makes it connecting, naming the subscription and the cause, until that subscription closes', async () => {
    const transport = await openTransport();
    const topic = uniqueName('health-crash');
    const subscription = await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 10,
      onDelivery: async (delivery) => void (await delivery.ack()),
      onError: () => {},
    });
    expect(transport.health()).toEqual({ connection: 'up' });

    const admin = await createAdmin(new URL(KAFKA_URL!), KAFKA_URL!);
    try {
      await admin.deleteTopic(topic, []);
    } finally {
      await admin.close();
    }
    // kafkajs's fetch gives up on the partition, the consumer crashes, and keeps crashing on restart.
    const crashed = await healthUntil(transport, (h) => h.connection !== 'up');
    expect(crashed.connection).toBe('connecting');
    expect(crashed.detail).toContain(`consuming ${topic} (group g)`);
    expect(crashed.detail).toMatch(/does not host this topic-partition/);

    // The crash was that subscription's: closed, it no longer counts, and the connection is up.
    await subscription.close();
    expect(transport.health()).toEqual({ connection: 'up' });
  });
});
