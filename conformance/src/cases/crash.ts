import { randomUUID } from 'node:crypto';
import { type IdempotencyStore, MemoryIdempotencyStore } from '@omnibus/core';
import {
  type CaseContext,
  type ConformanceCase,
  check,
  Ledger,
  publishKeyed,
  sleep,
  type TestContract,
  testContract,
} from '../harness.ts';

/**
 * Crash cases kill a real child process with SIGKILL while it holds unacknowledged events; for a broker that
 * lives in this process (memory://) the equivalent is abandoning a subscription without settling anything.
 */
const atLeastOnceCrash: ConformanceCase = {
  name: 'at-least-once-crash',
  requires: ['crashRedelivery', 'consumerGroups'],
  timeoutMs: 180_000,
  async run(ctx) {
    const topic = ctx.topic();
    const contract = testContract(topic);
    const publisher = await ctx.bus('publisher');
    await publisher.provision(contract, { groups: ['crashy'] });
    const ledger = new Ledger();
    const publish = async () => void (await publishKeyed(publisher, contract, 200, 10, ledger));
    const holding = ctx.options.inProcess
      ? await abandonInProcess(ctx, contract, ledger, publish)
      : await killChild(ctx, topic, ledger, publish);
    const survivor = await ctx.bus('survivor');
    await survivor.subscribe(contract, { group: 'crashy' }, (_e, c) => ledger.complete(c.id));
    await ctx.waitFor(
      () => ledger.done(),
      () => `after the crash: ${ledger.describe()}`,
      { timeoutMs: 120_000, stallMs: ctx.stall(1.5) },
    );
    const lost = [...holding].filter((id) => !ledger.completed.has(id));
    check(lost.length === 0, () => `${lost.length} events held by the killed instance were lost`);
  },
};

async function killChild(
  ctx: CaseContext,
  topic: string,
  ledger: Ledger,
  publish: () => Promise<void>,
): Promise<Set<string>> {
  const child = ctx.child({ kind: 'hold', topic, group: 'crashy', complete: 20 });
  await ctx.waitFor(
    () => child.ready,
    () => 'the child subscriber never became ready',
  );
  await publish();
  await ctx.waitFor(
    () => child.done.size >= 20 && child.holding.size >= 1,
    () => `the child completed ${child.done.size}/20 and holds ${child.holding.size} events`,
  );
  await sleep(200); // let it take a few more events it will never finish
  child.kill();
  await child.exited;
  for (const id of child.done) ledger.complete(id);
  return child.holding;
}

async function abandonInProcess(
  ctx: CaseContext,
  contract: TestContract,
  ledger: Ledger,
  publish: () => Promise<void>,
): Promise<Set<string>> {
  const doomed = await ctx.bus('doomed');
  const holding = new Set<string>();
  let completed = 0;
  await doomed.subscribe(contract, { group: 'crashy', concurrency: 4 }, async (_e, c) => {
    if (completed++ < 20) return ledger.complete(c.id);
    holding.add(c.id);
    await new Promise(() => {});
  });
  await publish();
  await ctx.waitFor(
    () => holding.size >= 1,
    () => `the doomed instance holds ${holding.size} events`,
  );
  await sleep(200);
  await ctx.crash(doomed);
  return holding;
}

/** A store wrapper that remembers each claim's answer per event id. */
function recordingStore(store: IdempotencyStore): IdempotencyStore & { claims: Map<string, string[]> } {
  const claims = new Map<string, string[]>();
  return {
    claims,
    async claim(key, leaseMs) {
      const result = await store.claim(key, leaseMs);
      const id = key.slice(key.indexOf(':') + 1);
      claims.set(id, [...(claims.get(id) ?? []), result]);
      return result;
    },
    complete: (key, ttlMs) => store.complete(key, ttlMs),
    release: (key) => store.release(key),
  };
}

const idempotent: ConformanceCase = {
  name: 'idempotent-consumption',
  requires: ['crashRedelivery'],
  timeoutMs: 150_000,
  async run(ctx) {
    const topic = ctx.topic();
    const contract = testContract(topic);
    const store = new MemoryIdempotencyStore();
    const effects = new Map<string, number>();
    const effect = (id: string) => effects.set(id, (effects.get(id) ?? 0) + 1);
    const publisher = await ctx.bus('publisher');
    await publisher.provision(contract, { groups: ['once'] });
    // 1. Duplicate publish: the same id twice.
    const first = await ctx.bus('first');
    await first.subscribe(contract, { group: 'once', idempotency: { store } }, (_e, c) => void effect(c.id));
    const dupId = '11111111-1111-4111-8111-111111111111';
    await publisher.publish(contract, { seq: 1, key: 'k', payload: 'dup' }, { key: 'k', id: dupId });
    await publisher.publish(contract, { seq: 1, key: 'k', payload: 'dup' }, { key: 'k', id: dupId });
    await publisher.publish(contract, { seq: 2, key: 'k', payload: 'marker' }, { key: 'k' });
    await ctx.waitFor(
      () => effects.size >= 2,
      () => `${effects.size}/2 distinct events handled`,
    );
    check(effects.get(dupId) === 1, () => `duplicate publish ran the handler ${effects.get(dupId)} times`);
    await first.close();
    // 2. Death between the side effect (recorded in the store) and the ack: the redelivery is absorbed.
    const crashId = '22222222-2222-4222-8222-222222222222';
    if (ctx.options.inProcess) await dieAfterRecordInProcess(ctx, contract, store, crashId, effect);
    else await dieAfterRecordInChild(ctx, topic, store, crashId, effect);
    await publisher.publish(contract, { seq: 3, key: 'k', payload: 'crash' }, { key: 'k', id: crashId });
    await ctx.waitFor(
      () => (effects.get(crashId) ?? 0) >= 1,
      () => 'the instance that is to die never handled the event',
    );
    const survivorStore = recordingStore(store);
    const survivor = await ctx.bus('survivor');
    let after = false;
    await survivor.subscribe(contract, { group: 'once', idempotency: { store: survivorStore } }, (e, c) => {
      effect(c.id);
      if (e.payload === 'after') after = true;
    });
    await publisher.publish(contract, { seq: 4, key: 'k', payload: 'after' }, { key: 'k' });
    await ctx.waitFor(
      () => after && (survivorStore.claims.get(crashId)?.length ?? 0) > 0,
      () =>
        after
          ? 'the event held by the dead instance was never redelivered (lost): the survivor handled later events of its key'
          : 'the survivor never received the events after the crash',
      { timeoutMs: 120_000, stallMs: ctx.stall(2) },
    );
    check(
      effects.get(crashId) === 1,
      () => `redelivery after the crash ran the handler again: ${effects.get(crashId)} effects`,
    );
  },
};

async function dieAfterRecordInChild(
  ctx: CaseContext,
  topic: string,
  store: IdempotencyStore,
  crashId: string,
  effect: (id: string) => void,
): Promise<void> {
  const child = ctx.child({ kind: 'effect', topic, group: 'once' });
  let reported = 0;
  // Record the completion, then kill the child before it hears back: it never acks.
  child.serveStore(store, (op, key, arg) => {
    if (op !== 'complete' || !key.endsWith(crashId)) return undefined;
    void store.complete(key, arg!).then(() => child.kill());
    return 'drop';
  });
  await ctx.waitFor(
    () => child.ready,
    () => 'the child subscriber never became ready',
  );
  const forward = setInterval(() => {
    for (; reported < child.effects.length; reported++) effect(child.effects[reported]!);
  }, 10);
  ctx.onCleanup(() => clearInterval(forward));
}

async function dieAfterRecordInProcess(
  ctx: CaseContext,
  contract: TestContract,
  store: IdempotencyStore,
  crashId: string,
  effect: (id: string) => void,
): Promise<void> {
  const dying = await ctx.bus('dying');
  const crashAfterRecord: IdempotencyStore = {
    claim: (k, l) => store.claim(k, l),
    release: (k) => store.release(k),
    async complete(k, ttl) {
      await store.complete(k, ttl);
      if (!k.endsWith(crashId)) return;
      await ctx.crash(dying);
      await new Promise(() => {}); // the ack never happens
    },
  };
  await dying.subscribe(contract, { group: 'once', idempotency: { store: crashAfterRecord } }, (_e, c) =>
    effect(c.id),
  );
}

/**
 * The store shared by instances (`--idempotency-store`, e.g. Redis; by default one the suite holds and serves
 * to its child processes): concurrent duplicates run once; a lease holder that dies is taken over only after
 * its lease expires.
 */
const sharedStore: ConformanceCase = {
  name: 'shared-idempotency-store',
  requires: ['consumerGroups', 'crashRedelivery'],
  timeoutMs: 150_000,
  async run(ctx) {
    const store = (await ctx.sharedStore()) ?? new MemoryIdempotencyStore();
    await concurrentDuplicates(ctx, store);
    await leaseTakeover(ctx, store);
  },
};

async function concurrentDuplicates(ctx: CaseContext, store: IdempotencyStore): Promise<void> {
  const contract = testContract(ctx.topic('duplicates'));
  const recording = recordingStore(store);
  const effects = new Map<string, number>();
  const [a, b, publisher] = [await ctx.bus('a'), await ctx.bus('b'), await ctx.bus('publisher')];
  for (const bus of [a, b]) {
    await bus.subscribe(contract, { group: 'once', idempotency: { store: recording } }, async (_e, c) => {
      effects.set(c.id, (effects.get(c.id) ?? 0) + 1);
      await sleep(300);
    });
  }
  // Each id twice, under two keys: the copies land in different partitions and run side by side.
  // Fresh ids: a shared store (Redis) remembers completed ids for a day, across runs and brokers.
  const ids = Array.from({ length: 20 }, () => randomUUID());
  await Promise.all(
    ids.flatMap((id, i) =>
      ['a', 'b'].map((copy) =>
        publisher.publish(
          contract,
          { seq: i, key: `${copy}${i}`, payload: copy },
          { key: `${copy}${i}`, id },
        ),
      ),
    ),
  );
  const settled = (id: string) =>
    (effects.get(id) ?? 0) >= 2 || (recording.claims.get(id) ?? []).includes('completed');
  await ctx.waitFor(
    () => ids.every(settled),
    () => `${ids.filter((id) => !settled(id)).length} of 20 duplicated ids not settled on both copies`,
  );
  const twice = ids.filter((id) => (effects.get(id) ?? 0) > 1);
  check(
    twice.length === 0,
    () =>
      `${twice.length} of 20 ids ran more than once across two instances sharing the store (first: ${twice[0]})`,
  );
  const busy = [...recording.claims.values()].flat().filter((r) => r === 'busy').length;
  check(busy > 0, () => 'no duplicate ever found its twin running: the case could not exercise the lease');
}

async function leaseTakeover(ctx: CaseContext, store: IdempotencyStore): Promise<void> {
  const topic = ctx.topic('takeover');
  const contract = testContract(topic);
  const publisher = await ctx.bus('publisher-2');
  await publisher.provision(contract, { groups: ['once'] });
  const leaseMs = 3000;
  const id = randomUUID();
  let holderStartedAt = 0;
  if (ctx.options.inProcess) {
    const holder = await ctx.bus('holder');
    await holder.subscribe(contract, { group: 'once', idempotency: { store, leaseMs } }, async () => {
      holderStartedAt = Date.now();
      await new Promise(() => {});
    });
    await publisher.publish(contract, { seq: 1, key: 'lease', payload: 'x' }, { key: 'lease', id });
    await ctx.waitFor(
      () => holderStartedAt > 0,
      () => 'the lease holder never started the event',
    );
    await ctx.crash(holder);
  } else {
    const child = ctx.child({
      kind: 'lease-holder',
      topic,
      group: 'once',
      leaseMs,
      store: ctx.options.idempotencyStore,
    });
    child.serveStore(store);
    await ctx.waitFor(
      () => child.ready,
      () => 'the lease-holder child never became ready',
    );
    await publisher.publish(contract, { seq: 1, key: 'lease', payload: 'x' }, { key: 'lease', id });
    await ctx.waitFor(
      () => child.started.length > 0,
      () => 'the lease-holder child never started the event',
    );
    holderStartedAt = Date.now();
    child.kill();
    await child.exited;
  }
  const survivor = await ctx.bus('survivor');
  const runs: number[] = [];
  await survivor.subscribe(contract, { group: 'once', idempotency: { store, leaseMs } }, () => {
    runs.push(Date.now());
  });
  await ctx.waitFor(
    () => runs.length > 0,
    () => 'the survivor never took over the event of the dead lease holder',
    { timeoutMs: 90_000, stallMs: ctx.stall(2) },
  );
  const waited = runs[0]! - holderStartedAt;
  check(
    waited >= leaseMs - 250,
    () =>
      `the survivor ran the event ${waited} ms after the holder took it, before its ${leaseMs} ms lease expired`,
  );
  await sleep(500);
  check(runs.length === 1, () => `the survivor ran the event ${runs.length} times`);
}

export const crashCases = [atLeastOnceCrash, idempotent, sharedStore];
