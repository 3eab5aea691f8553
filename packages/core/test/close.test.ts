import { expect, it } from 'vitest';
import { createBus, defineEvent } from '../src/index.ts';

const Job = defineEvent({
  type: 'close.job',
  version: 1,
  avro: { type: 'record', name: 'Job', fields: [{ name: 'n', type: 'int' }] } as const,
});

it('close({ timeoutMs }) stops waiting for a hung handler and leaves its event for redelivery', async () => {
  const errors: string[] = [];
  const first = await createBus({
    url: 'memory://close-timeout',
    onError: (e) => void errors.push(e.message),
  });
  const second = await createBus('memory://close-timeout');
  await first.provision(Job, { groups: ['workers'] });
  let started = false;
  const stuck = await first.subscribe(Job, { group: 'workers' }, async () => {
    started = true;
    await new Promise(() => {}); // never returns
  });
  await first.publish(Job, { n: 1 });
  while (!started) await new Promise((r) => setTimeout(r, 5));

  const began = Date.now();
  await stuck.close({ timeoutMs: 150 });
  expect(Date.now() - began).toBeLessThan(2_000);
  expect(errors.join()).toMatch(/stopped waiting after 150 ms: 1 event\(s\) on close.job left to the broker/);

  const redelivered: number[] = [];
  await second.subscribe(Job, { group: 'workers' }, (job) => void redelivered.push(job.n));
  const deadline = Date.now() + 3_000;
  while (redelivered.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(redelivered).toEqual([1]);
  await Promise.all([first.close({ timeoutMs: 100 }), second.close()]);
});
