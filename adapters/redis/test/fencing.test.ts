import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBus } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ownerContract } from './fixtures/contract.ts';
import { collector, Fixture, message, REDIS_URL, sleep, uniqueTopic, waitUntil } from './helpers.ts';

/** One partition, short leases: an instance that stops renewing loses its partition after 1.5 s. */
const SETTINGS = 'partitions=1&leaseMs=1500&heartbeatIntervalMs=300';

interface Report {
  ready?: boolean;
  started?: number;
  attempt?: number;
  finished?: number;
  error?: string;
}

/** A group member in a child process (fixtures/owner.ts), with what it reported. */
function owner(url: string, topic: string, group: string) {
  const child: ChildProcess = fork(
    fileURLToPath(new URL('./fixtures/owner.ts', import.meta.url)),
    [url, topic, group],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const seen = { ready: false, started: [] as number[], finished: [] as number[], errors: [] as string[] };
  child.on('message', (m: Report) => {
    if (m.ready) seen.ready = true;
    if (m.started !== undefined) seen.started.push(m.started);
    if (m.finished !== undefined) seen.finished.push(m.finished);
    if (m.error) seen.errors.push(m.error);
  });
  return { child, seen };
}

describe.skipIf(!REDIS_URL)('redis: fencing — an owner that was paused past its lease', () => {
  const fixture = new Fixture(REDIS_URL!);
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await fixture.cleanUp();
  });

  it('neither acknowledges nor starts anything once another instance took its partition', async () => {
    const topic = fixture.track(uniqueTopic('fencing'), 'g');
    const url = `${REDIS_URL}?${SETTINGS}`;
    const contract = ownerContract(topic);
    const publisher = await createBus(url);
    try {
      await publisher.provision(contract, { groups: ['g'] });
      const paused = owner(url, topic, 'g');
      children.push(paused.child);
      await waitUntil(
        () => paused.seen.ready,
        () => 'the owner never subscribed',
      );
      // seq 0 runs for 2 s; seq 1 (same key) waits behind it in the owner.
      await publisher.publish(contract, { seq: 0, ms: 2_000 }, { key: 'k' });
      await publisher.publish(contract, { seq: 1, ms: 0 }, { key: 'k' });
      await waitUntil(
        () => paused.seen.started.includes(0),
        () => 'the owner never started seq 0',
      );
      paused.child.kill('SIGSTOP'); // a long GC pause, a frozen VM: no renewals, no acks

      const runs: { seq: number; attempt: number }[] = [];
      const survivor = await createBus(url);
      try {
        await sleep(2_000); // the paused owner's lease (1.5 s) runs out
        await survivor.subscribe(
          contract,
          { group: 'g' },
          (event, c) => void runs.push({ seq: event.seq, attempt: c.attempt }),
        );
        await waitUntil(
          () => runs.length >= 2,
          () => `the survivor ran ${JSON.stringify(runs)}`,
          20_000,
        );
        expect(runs.map((r) => r.seq)).toEqual([0, 1]);
        expect(runs[0]!.attempt).toBe(2); // XPENDING's delivery counter: the paused owner had it once

        paused.child.kill('SIGCONT'); // wakes up: seq 0's handler finishes and tries to ack
        await waitUntil(
          () => paused.seen.finished.includes(0),
          () => 'the owner never finished seq 0',
          10_000,
        );
        // Either the core's keep-alive notices first (touch: the partition lease is gone, so the event is
        // handed back, not acked), or the ack reaches Redis and the lease check in the ack script refuses it.
        await waitUntil(
          () =>
            paused.seen.errors.some(
              (e) =>
                /ack\(s\) on .* refused/.test(e) || /lost the lease of a delivery; it is handed back/.test(e),
            ),
          () =>
            `the stale owner neither had its ack refused nor handed the event back; it reported ${JSON.stringify(paused.seen.errors)}`,
          10_000,
        );
        await sleep(1_000);
        expect(paused.seen.started).toEqual([0]); // seq 1 never started on the stale owner
        expect(runs).toHaveLength(2);
      } finally {
        await survivor.close();
      }
    } finally {
      await publisher.close();
    }
  });
});

describe.skipIf(!REDIS_URL)('redis: fencing — the ack script', () => {
  const fixture = new Fixture(REDIS_URL!);
  afterEach(() => fixture.cleanUp());

  it('refuses an ack once the lease holds another consumer: the entry stays pending for the new owner', async () => {
    const topic = fixture.track(uniqueTopic('fenced-ack'), 'g');
    const transport = await fixture.transport({ partitions: 1 });
    await transport.provision(topic, ['g']);
    const held = collector({ topic, group: 'g' }, () => {}); // hold the delivery, settle it later
    await transport.subscribe(held.request);
    await transport.publish(message(topic, 1, 'k'));
    await waitUntil(
      () => held.deliveries.length === 1,
      () => 'no delivery',
    );
    const redis = fixture.raw();
    const lease = `omnibus:{${topic}:0}:lease:g`;
    expect(await redis.get(lease)).toBeTruthy();
    await redis.set(lease, 'another-instance#1', 'PX', 60_000); // another instance took the partition
    const refused = await held.deliveries[0]!.ack().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(String(refused)).toMatch(
      /1 ack\(s\) on .* refused: this instance no longer holds the partition's lease/,
    );
    const [pending] = (await redis.xpending(`omnibus:{${topic}:0}`, 'g')) as [number];
    expect(pending).toBe(1); // still pending: the new owner takes it over
    await redis.del(lease);
  });
});
