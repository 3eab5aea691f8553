import type { Delivery } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { collector, Fixture, message, REDIS_URL, uniqueTopic, waitUntil } from './helpers.ts';

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

describe.skipIf(!REDIS_URL)('redis: consumer lag', () => {
  const fixture = new Fixture(REDIS_URL!);
  afterEach(() => fixture.cleanUp());

  it('counts, per partition stream, what the group has not read plus what it read and not acknowledged', async () => {
    const topic = fixture.track(uniqueTopic('lag'), 'g', 'other');
    const transport = await fixture.transport({ partitions: 4 });
    await transport.provision(topic, ['g', 'other']);
    expect(await transport.lag(topic, 'g')).toBe(0);
    expect(await transport.lag(topic, 'never-provisioned')).toBeUndefined();
    expect(await transport.lag(uniqueTopic('lag-missing'), 'g')).toBeUndefined();
    for (let i = 0; i < 12; i++) await transport.publish(message(topic, i, `k${i}`));
    expect(await transport.lag(topic, 'g')).toBe(12);
    expect(await transport.lag(topic, 'other')).toBe(12);

    const held: Delivery[] = [];
    const { request } = collector({ topic, group: 'g', maxInFlight: 50 }, (d) => void held.push(d));
    await transport.subscribe(request);
    await waitUntil(
      () => held.length === 12,
      () => `${held.length} of 12 delivered`,
    );
    expect(await transport.lag(topic, 'g')).toBe(12); // read by the group, pending: still counted
    await Promise.all(held.slice(0, 5).map((d) => d.ack()));
    await pollLag(() => transport.lag(topic, 'g'), 7);
    await Promise.all(held.slice(5).map((d) => d.ack()));
    await pollLag(() => transport.lag(topic, 'g'), 0);
    expect(await transport.lag(topic, 'other')).toBe(12);
  });
});
