import type { Bus, Subscription } from '@omnibus/core';
import {
  type CapabilityFlag,
  type CaseContext,
  type ConformanceCase,
  check,
  publishKeyed,
  sleep,
  type TestContract,
  testContract,
} from '../harness.ts';
import { expectedOrder, RunObserver } from '../observe.ts';

/** Subscribes `bus` as `instance`, recording every run; handlers sleep `delay()` ms. */
function subscribeObserved(
  bus: Bus,
  contract: TestContract,
  observer: RunObserver,
  instance: string,
  delay: () => number,
  concurrency = 8,
): Promise<Subscription> {
  return bus.subscribe(contract, { group: 'ordered', concurrency }, (event) =>
    observer.observe(event.key, event.seq, instance, () => sleep(delay())),
  );
}

/** No same-key overlap, first starts and completions in publish order, nothing lost. */
function checkOrder(observer: RunObserver, sent: { key: string; seq: number }[]): void {
  check(observer.overlaps.length === 0, () => observer.describeOverlaps());
  const problem = observer.orderProblem(expectedOrder(sent));
  check(problem === undefined, () => problem!);
}

async function orderingCase(ctx: CaseContext, instances: number): Promise<void> {
  const contract = testContract(ctx.topic());
  const observer = new RunObserver();
  const buses: Bus[] = [];
  for (let i = 0; i < instances; i++) {
    const bus = await ctx.bus(`instance-${i + 1}`);
    buses.push(bus);
    await subscribeObserved(bus, contract, observer, String(i + 1), () => Math.random() * 3);
  }
  const sent = await publishKeyed(buses[0]!, contract, 2000, 20);
  await ctx.waitFor(
    () => observer.completedCount >= 2000,
    () => `${2000 - observer.completedCount} of 2000 events not completed`,
    150_000,
  );
  checkOrder(observer, sent);
  check(observer.duplicates().length === 0, () => `with no fault injected: ${observer.describeDuplicates()}`);
}

/**
 * One instance, then a second and a third join, then the first leaves, while 20 keys keep flowing and
 * handlers take 50–400 ms: ownership of a key moves between instances several times mid-stream.
 */
async function joinAndLeave(ctx: CaseContext): Promise<void> {
  const contract = testContract(ctx.topic());
  const observer = new RunObserver();
  const publisher = await ctx.bus('publisher');
  await publisher.provision(contract, { groups: ['ordered'] });
  const delay = () => 50 + Math.random() * 350;
  const first = await subscribeObserved(await ctx.bus('instance-1'), contract, observer, '1', delay);
  const total = 400;
  const sent: { key: string; seq: number; id: string }[] = [];
  // 20 keys, each published in order, spread over a few seconds so members change mid-stream.
  const publishing = (async () => {
    for (let offset = 0; offset < total; offset += 40) {
      sent.push(...(await publishKeyed(publisher, contract, 40, 20, undefined, 'x', offset)));
      await sleep(150);
    }
  })();
  const progress = () =>
    `${observer.completedCount} of ${total} events completed, ${observer.overlaps.length} overlaps so far`;
  const after = (count: number) =>
    ctx.waitFor(() => observer.completedCount >= count, progress, {
      timeoutMs: 120_000,
      stallMs: ctx.stall(1.5),
    });
  await after(20);
  await subscribeObserved(await ctx.bus('instance-2'), contract, observer, '2', delay);
  await after(60);
  await subscribeObserved(await ctx.bus('instance-3'), contract, observer, '3', delay);
  await after(100);
  await first.close();
  await publishing;
  await ctx.waitFor(() => observer.completedCount >= total, progress, {
    timeoutMs: 180_000,
    stallMs: ctx.stall(1.5),
  });
  checkOrder(observer, sent);
  const duplicates = observer.duplicates().length;
  if (duplicates > 0) ctx.notes.push(`${duplicates} event(s) ran again after a hand-over (allowed, counted)`);
}

const requiresAcross: CapabilityFlag[] = ['orderedByKeyAcrossInstances', 'consumerGroups'];

export const orderingCases: ConformanceCase[] = [
  {
    name: 'ordering-per-key-one-instance',
    requires: ['orderedByKey'],
    timeoutMs: 180_000,
    run: (ctx) => orderingCase(ctx, 1),
  },
  {
    name: 'ordering-per-key-across-instances',
    requires: requiresAcross,
    timeoutMs: 180_000,
    run: (ctx) => orderingCase(ctx, 2),
  },
  {
    name: 'ordering-join-and-leave',
    requires: requiresAcross,
    timeoutMs: 300_000,
    run: joinAndLeave,
  },
];
