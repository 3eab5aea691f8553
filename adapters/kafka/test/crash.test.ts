import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, KAFKA_URL, message, openTransport, uniqueName, waitUntil } from './helpers.ts';

describe.skipIf(!KAFKA_URL)('kafka: a SIGKILLed consumer loses nothing', () => {
  afterEach(closeAll);

  it('a member killed mid-batch hands its partitions to the survivor, which resumes from the committed offset', async () => {
    const topic = uniqueName('crash');
    const publisher = await openTransport();
    await publisher.provision(topic, ['g']);
    const child = fork(
      fileURLToPath(new URL('./crash-child.ts', import.meta.url)),
      [KAFKA_URL!, topic, 'g', '30'],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    const acked = new Set<string>();
    const holding = new Set<string>();
    let ready = false;
    child.on('message', (m: { acked?: string; holding?: string; ready?: boolean }) => {
      if (m.acked) acked.add(m.acked);
      if (m.holding) holding.add(m.holding);
      if (m.ready) ready = true;
    });
    try {
      await waitUntil(
        () => ready,
        () => 'child never subscribed',
      );
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => publisher.publish(message(topic, i, `k${i % 10}`))),
      );
      await waitUntil(
        () => acked.size === 30 && holding.size > 0,
        () => `child acked ${acked.size}, holds ${holding.size}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 300)); // let a commit of the acked prefix go out
    } finally {
      child.kill('SIGKILL');
    }
    expect(holding.size).toBeGreaterThan(0);

    const survivor = await openTransport();
    const completed = new Set<string>(acked);
    const seenAgain = new Set<string>();
    await survivor.subscribe({
      topic,
      group: 'g',
      maxInFlight: 50,
      onDelivery: async (d) => {
        if (acked.has(d.headers.seq!)) seenAgain.add(d.headers.seq!);
        completed.add(d.headers.seq!);
        await d.ack();
      },
      onError: () => {},
    });
    await waitUntil(
      () => completed.size === 200,
      () =>
        `${200 - completed.size} of 200 never completed; held by the dead child: ${[...holding].slice(0, 5)}`,
      60_000,
    );
    for (const seq of holding) expect(completed.has(seq)).toBe(true);
    // It resumed from the dead member's committed offsets, not from the start of the topic.
    expect(seenAgain.size).toBeLessThan(acked.size);
  });
});
