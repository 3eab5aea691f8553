import type { Delivery } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, KAFKA_URL, message, openTransport, uniqueName, waitUntil } from './helpers.ts';

describe.skipIf(!KAFKA_URL)('kafka: consumer lag', () => {
  afterEach(closeAll);

  it('counts end offset minus committed offset per partition: published, then handed out, then acked', async () => {
    const transport = await openTransport();
    const topic = uniqueName('lag');
    await transport.provision(topic, ['g']);
    expect(await transport.lag(topic, 'g')).toBe(0);
    await Promise.all(Array.from({ length: 12 }, (_, i) => transport.publish(message(topic, i, `k${i}`))));
    await pollLag(() => transport.lag(topic, 'g'), 12);
    // No committed offset: counted from the earliest retained event, where the group would start.
    expect(await transport.lag(topic, 'never-subscribed')).toBe(12);

    const held: Delivery[] = [];
    await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 50,
      onDelivery: async (d) => void held.push(d),
      onError: (e) => expect.fail(e.message),
    });
    await waitUntil(
      () => held.length === 12,
      () => `${held.length} of 12 delivered`,
    );
    expect(await transport.lag(topic, 'g')).toBe(12); // handed out, not acked: nothing committed
    await Promise.all(held.slice(0, 5).map((d) => d.ack()));
    await Promise.all(held.slice(5).map((d) => d.ack()));
    await pollLag(() => transport.lag(topic, 'g'), 0);
    expect(await transport.lag(topic, 'never-subscribed')).toBe(12);
  });

  it('with fromBeginning=false a group without a committed offset starts at the end; unknown topics are undefined', async () => {
    const transport = await openTransport({ fromBeginning: false });
    const topic = uniqueName('lag-latest');
    await transport.provision(topic, ['pinned']);
    await Promise.all(Array.from({ length: 4 }, (_, i) => transport.publish(message(topic, i, `k${i}`))));
    await pollLag(() => transport.lag(topic, 'pinned'), 4); // provision pinned it to the end before these
    expect(await transport.lag(topic, 'never-subscribed')).toBe(0); // would start at the end
    expect(await transport.lag(uniqueName('lag-missing'), 'g')).toBeUndefined();
  });
});

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
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
