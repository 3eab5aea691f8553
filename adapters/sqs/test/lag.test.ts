import { randomBytes } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import type { Delivery } from '@omnibus/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createAdmin, createSqsTransport, type SqsTransport } from '../src/index.ts';

const SQS_URL = brokerUrl('sqs');

/**
 * Polls `read` until it answers `expected` — the counts are approximate and trail sends and deletes —
 * failing with the last answer after `timeoutMs`.
 */
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
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(!SQS_URL)('sqs: consumer lag', () => {
  const transports: SqsTransport[] = [];
  const topics = new Map<string, string[]>();

  afterAll(async () => {
    await Promise.allSettled(transports.map((t) => t.close()));
    const admin = await createAdmin(new URL(SQS_URL!), SQS_URL!);
    for (const [topic, groups] of topics) await admin.deleteTopic(topic, groups).catch(() => {});
    await admin.close();
  });

  it('counts the messages of the group’s queue, waiting and in flight, until they are deleted', async () => {
    const topic = `test-sqs-lag-${randomBytes(4).toString('hex')}`;
    topics.set(topic, ['g', 'other']);
    topics.set(`${topic}.dlq`, ['dead-letters']);
    const transport = createSqsTransport(SQS_URL!);
    transports.push(transport);
    await transport.connect();
    await transport.provision(topic, ['g', 'other']);
    expect(await transport.lag(topic, 'g')).toBe(0);
    expect(await transport.lag(topic, 'never-provisioned')).toBeUndefined();
    for (let i = 0; i < 6; i++) {
      await transport.publish({ topic, key: `k${i}`, body: Buffer.from(`event ${i}`), headers: {} });
    }
    await pollLag(() => transport.lag(topic, 'g'), 6);
    await pollLag(() => transport.lag(topic, 'other'), 6);

    const held: Delivery[] = [];
    const subscription = await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 32,
      onDelivery: async (d) => void held.push(d),
      onError: (error) => expect.fail(error.message),
    });
    const deadline = Date.now() + 30_000;
    while (held.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(held).toHaveLength(6);
    expect(await transport.lag(topic, 'g')).toBe(6); // received, not deleted: in flight, still counted
    await Promise.all(held.slice(0, 2).map((d) => d.ack()));
    await pollLag(() => transport.lag(topic, 'g'), 4);
    await Promise.all(held.slice(2).map((d) => d.ack()));
    await pollLag(() => transport.lag(topic, 'g'), 0);
    expect(await transport.lag(topic, 'other')).toBe(6);
    await subscription.close();
  });
});
