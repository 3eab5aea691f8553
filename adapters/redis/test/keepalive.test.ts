import { createBus } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ownerContract } from './fixtures/contract.ts';
import { Fixture, REDIS_URL, sleep, uniqueTopic, waitUntil } from './helpers.ts';

describe.skipIf(!REDIS_URL)('redis: a live instance keeps what it holds', () => {
  const fixture = new Fixture(REDIS_URL!);
  afterEach(() => fixture.cleanUp());

  it('a handler and a backoff each 3× longer than the lease are not claimed by another instance', async () => {
    const topic = fixture.track(uniqueTopic('keepalive'), 'g');
    const url = `${REDIS_URL}?partitions=1&leaseMs=1500&heartbeatIntervalMs=300`;
    const contract = ownerContract(topic);
    const buses = [await createBus(url), await createBus(url)];
    try {
      const runs: { seq: number; attempt: number; instance: number }[] = [];
      for (const [instance, bus] of buses.entries()) {
        await bus.subscribe(
          contract,
          { group: 'g', maxAttempts: 2, backoff: { initialDelayMs: 4_500, jitter: 0 } },
          async (event, c) => {
            runs.push({ seq: event.seq, attempt: c.attempt, instance });
            if (event.ms > 0) await sleep(event.ms);
            if (event.seq === 2 && c.attempt === 1) throw new Error('fails once');
          },
        );
      }
      await buses[0]!.publish(contract, { seq: 1, ms: 4_500 }, { key: 'slow' });
      await buses[0]!.publish(contract, { seq: 2, ms: 0 }, { key: 'retry' });
      await waitUntil(
        () => runs.length >= 3,
        () => `runs so far: ${JSON.stringify(runs)}`,
        30_000,
      );
      await sleep(3_000); // a copy claimed by the other instance would run now
      const owner = runs[0]!.instance;
      expect(runs.map(({ seq, attempt }) => `${seq}/${attempt}`).sort()).toEqual(['1/1', '2/1', '2/2']);
      expect(runs.every((r) => r.instance === owner)).toBe(true);
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  it('a handler still running when its instance closes keeps its lease to the end: acked, never run again', async () => {
    const topic = fixture.track(uniqueTopic('keepalive-close'), 'g');
    const url = `${REDIS_URL}?partitions=1&leaseMs=1500&heartbeatIntervalMs=300`;
    const contract = ownerContract(topic);
    const errors: Error[] = [];
    const leaving = await createBus({ url, onError: (e) => errors.push(e) });
    const survivor = await createBus(url);
    const runs: string[] = [];
    try {
      await leaving.subscribe(contract, { group: 'g' }, async (event) => {
        runs.push(`leaving:${event.seq}`);
        await sleep(event.ms);
      });
      await leaving.publish(contract, { seq: 1, ms: 4_500 }, { key: 'slow' });
      await waitUntil(
        () => runs.length === 1,
        () => `runs so far: ${JSON.stringify(runs)}`,
        10_000,
      );
      // The partition is given up while the handler runs: it is "leaving" for 3× its lease.
      const closing = leaving.close();
      await survivor.subscribe(contract, { group: 'g' }, (event) => {
        runs.push(`survivor:${event.seq}`);
      });
      await closing;
      await sleep(2_000); // a handed-back copy would run on the survivor now
      expect(runs).toEqual(['leaving:1']);
      expect(errors.map((e) => e.message)).toEqual([]);
    } finally {
      await Promise.all([leaving.close(), survivor.close()]);
    }
  });
});
