import { type ConformanceCase, check, Ledger, publishKeyed, sleep, testContract } from '../harness.ts';

const competing: ConformanceCase = {
  name: 'competing-consumers',
  requires: ['consumerGroups'],
  timeoutMs: 120_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const [a, b, publisher] = [await ctx.bus(), await ctx.bus(), await ctx.bus()];
    const ledger = new Ledger();
    const perInstance = { a: 0, b: 0 };
    // Slow handlers, so work queues up and a second instance has something to take.
    await a.subscribe(contract, { group: 'workers' }, async (_e, c) => {
      await sleep(2);
      perInstance.a++;
      ledger.complete(c.id);
    });
    await b.subscribe(contract, { group: 'workers' }, async (_e, c) => {
      await sleep(2);
      perInstance.b++;
      ledger.complete(c.id);
    });
    await publishKeyed(publisher, contract, 1000, 1000, ledger);
    await ctx.waitFor(
      () => ledger.done(),
      () => ledger.describe(),
      100_000,
    );
    check(
      perInstance.a > 0 && perInstance.b > 0,
      () => `one instance did all the work: ${JSON.stringify(perInstance)}`,
    );
  },
};

const fanOut: ConformanceCase = {
  name: 'fan-out',
  requires: ['fanOut'],
  timeoutMs: 120_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const a = new Ledger();
    const b = new Ledger();
    await bus.subscribe(contract, { group: 'group-a' }, (_e, c) => a.complete(c.id));
    await bus.subscribe(contract, { group: 'group-b' }, (_e, c) => b.complete(c.id));
    const sent = await publishKeyed(bus, contract, 500, 10);
    for (const { id } of sent) {
      a.published.add(id);
      b.published.add(id);
    }
    await ctx.waitFor(
      () => a.done() && b.done(),
      () => `group-a: ${a.describe()}; group-b: ${b.describe()}`,
    );
  },
};

const persistent: ConformanceCase = {
  name: 'persistent-before-subscribe',
  requires: ['persistent'],
  timeoutMs: 60_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    await bus.provision(contract, { groups: ['late'] });
    const ledger = new Ledger();
    for (const { id } of await publishKeyed(bus, contract, 50, 5)) ledger.published.add(id);
    await bus.subscribe(contract, { group: 'late' }, (_e, c) => ledger.complete(c.id));
    await ctx.waitFor(
      () => ledger.done(),
      () => ledger.describe(),
    );
  },
};

export const groupCases = [competing, fanOut, persistent];
