import { type ConformanceCase, check, Ledger, publishKeyed, sleep, testContract } from '../harness.ts';

/** "3 ids completed more than once: a (2×), …" — with no fault injected there must be none. */
function noDuplicates(ledger: Ledger, where: string): void {
  const duplicates = ledger.duplicates();
  check(
    duplicates.length === 0,
    () =>
      `${where}: ${duplicates.length} event(s) handled more than once with no fault injected (first: ${duplicates
        .slice(0, 3)
        .map((id) => `${id} ${ledger.completed.get(id)}×`)
        .join(', ')})`,
  );
}

const competing: ConformanceCase = {
  name: 'competing-consumers',
  requires: ['consumerGroups'],
  timeoutMs: 120_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const [a, b, publisher] = [await ctx.bus('a'), await ctx.bus('b'), await ctx.bus('publisher')];
    const ledger = new Ledger();
    const perInstance = { a: 0, b: 0 };
    // Slow handlers, so work queues up and a second instance has something to take.
    for (const [bus, name] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      await bus.subscribe(contract, { group: 'workers' }, async (_e, c) => {
        await sleep(2);
        perInstance[name]++;
        ledger.complete(c.id);
      });
    }
    await publishKeyed(publisher, contract, 1000, 1000, ledger);
    await ctx.waitFor(
      () => ledger.done(),
      () => ledger.describe(),
      100_000,
    );
    await sleep(300); // late copies would show up now
    noDuplicates(ledger, 'group workers');
    check(
      perInstance.a > 0 && perInstance.b > 0,
      () => `one instance did all the work: ${JSON.stringify(perInstance)}`,
    );
    check(
      perInstance.a + perInstance.b === 1000,
      () =>
        `the instances handled ${perInstance.a} + ${perInstance.b} events for 1000 published (copies, not a split)`,
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
    await sleep(300);
    noDuplicates(a, 'group-a');
    noDuplicates(b, 'group-b');
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
