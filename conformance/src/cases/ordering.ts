import type { Bus } from '@omnibus/core';
import {
  type CapabilityFlag,
  type CaseContext,
  type ConformanceCase,
  check,
  publishKeyed,
  sleep,
  testContract,
} from '../harness.ts';

async function orderingCase(ctx: CaseContext, instances: number): Promise<void> {
  const contract = testContract(ctx.topic());
  const buses: Bus[] = [];
  for (let i = 0; i < instances; i++) buses.push(await ctx.bus());
  const starts = new Map<string, number[]>();
  let total = 0;
  for (const bus of buses) {
    await bus.subscribe(contract, { group: 'ordered', concurrency: 8 }, async (event) => {
      const seen = starts.get(event.key) ?? [];
      seen.push(event.seq);
      starts.set(event.key, seen);
      await sleep(Math.random() * 3);
      total++;
    });
  }
  const sent = await publishKeyed(buses[0]!, contract, 2000, 20);
  await ctx.waitFor(
    () => total >= 2000,
    () => `${2000 - total} of 2000 events not handled`,
    150_000,
  );
  for (const key of new Set(sent.map((s) => s.key))) {
    const expected = sent
      .filter((s) => s.key === key)
      .map((s) => s.seq)
      .sort((x, y) => x - y);
    // Redeliveries may repeat a run of events; per key the first start of each event must be in order.
    const firstStarts = [...new Set(starts.get(key) ?? [])];
    const outOfOrder = firstStarts.findIndex((seq, i) => i > 0 && seq < firstStarts[i - 1]!);
    check(
      outOfOrder === -1,
      () => `key ${key}: seq ${firstStarts[outOfOrder]} started after ${firstStarts[outOfOrder - 1]}`,
    );
    check(
      firstStarts.length === expected.length,
      () => `key ${key}: ${expected.length - firstStarts.length} events never started`,
    );
  }
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
];
