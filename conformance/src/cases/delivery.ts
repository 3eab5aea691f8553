import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IdempotencyStore } from '@omnibus/core';
import { MemoryIdempotencyStore } from '@omnibus/core';
import {
  type CaseContext,
  type ConformanceCase,
  check,
  Ledger,
  publishKeyed,
  sleep,
  testContract,
} from '../harness.ts';

const atLeastOnceThrow: ConformanceCase = {
  name: 'at-least-once-throw',
  requires: [],
  timeoutMs: 60_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const ledger = new Ledger();
    const attempts = new Map<number, number>();
    await bus.subscribe(contract, { group: 'g', backoff: { initialDelayMs: 20 } }, (event, c) => {
      attempts.set(event.seq, c.attempt);
      if (event.seq % 3 === 0 && c.attempt === 1) throw new Error(`first attempt of ${event.seq} fails`);
      ledger.complete(c.id);
    });
    await publishKeyed(bus, contract, 300, 10, ledger);
    await ctx.waitFor(
      () => ledger.done(),
      () => ledger.describe(),
    );
    check(
      attempts.get(0) === 2 && attempts.get(3) === 2,
      () => `failed events were not retried with attempt 2: ${attempts.get(0)}`,
    );
  },
};

/** Starts a subscriber in a child process, waits until it holds events unacked, SIGKILLs it. */
async function crashChild(
  ctx: CaseContext,
  topic: string,
  group: string,
  ledger: Ledger,
  publish: () => Promise<void>,
) {
  const child = fork(
    fileURLToPath(new URL('../crash-child.ts', import.meta.url)),
    [ctx.url, topic, group, '20'],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  ctx.onCleanup(() => child.kill('SIGKILL'));
  const holding = new Set<string>();
  let ready = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (m: { ready?: boolean; done?: string; holding?: string }) => {
    if (m.ready) ready = true;
    if (m.done) ledger.complete(m.done);
    if (m.holding) holding.add(m.holding);
  });
  await ctx.waitFor(
    () => ready,
    () => 'child subscriber never became ready',
    60_000,
  );
  await publish();
  await ctx.waitFor(
    () => ledger.completed.size >= 20 && holding.size >= 1,
    () => `child completed ${ledger.completed.size}/20 and holds ${holding.size} events`,
    60_000,
  );
  await sleep(200); // let it take a few more events it will never finish
  child.kill('SIGKILL');
  await exited;
  return holding;
}

const atLeastOnceCrash: ConformanceCase = {
  name: 'at-least-once-crash',
  requires: ['crashRedelivery', 'consumerGroups'],
  timeoutMs: 180_000,
  async run(ctx) {
    const topic = ctx.topic();
    const contract = testContract(topic);
    const publisher = await ctx.bus();
    await publisher.provision(contract, { groups: ['crashy'] });
    const ledger = new Ledger();
    let holding: Set<string>;
    if (publisher.transport.simulateCrash) {
      // In-process adapters: abandon a subscription that holds events, as a dead process would.
      const doomed = await ctx.bus();
      holding = new Set();
      let completed = 0;
      await doomed.subscribe(contract, { group: 'crashy', concurrency: 4 }, async (_e, c) => {
        if (completed++ < 20) return ledger.complete(c.id);
        holding.add(c.id);
        await new Promise(() => {});
      });
      await publishKeyed(publisher, contract, 200, 10, ledger);
      await ctx.waitFor(
        () => holding.size >= 1,
        () => `doomed instance holds ${holding.size} events`,
      );
      await sleep(200);
      await ctx.crash(doomed);
    } else {
      holding = await crashChild(
        ctx,
        topic,
        'crashy',
        ledger,
        async () => void (await publishKeyed(publisher, contract, 200, 10, ledger)),
      );
    }
    const survivor = await ctx.bus();
    await survivor.subscribe(contract, { group: 'crashy' }, (_e, c) => ledger.complete(c.id));
    await ctx.waitFor(
      () => ledger.done(),
      () => `after the crash: ${ledger.describe()}`,
      150_000,
    );
    check(
      [...holding].every((id) => ledger.completed.has(id)),
      () => 'events held by the killed instance were lost',
    );
  },
};

const retryThenDeadLetter: ConformanceCase = {
  name: 'retry-then-dead-letter',
  requires: ['deadLetter'],
  timeoutMs: 60_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const attempts: { attempt: number; at: number }[] = [];
    const done = new Map<number, number>();
    const backoff = { initialDelayMs: 150, multiplier: 2, jitter: 0 };
    await bus.subscribe(
      contract,
      { group: 'g', maxAttempts: 3, backoff, concurrency: 4 },
      async (event, c) => {
        if (event.payload === 'poison') {
          attempts.push({ attempt: c.attempt, at: Date.now() });
          throw new Error('poison event: always fails');
        }
        done.set(event.seq, Date.now());
      },
    );
    const letters: {
      at: number;
      error: string;
      attempts: number;
      reason: string;
      headers: Record<string, string>;
    }[] = [];
    await bus.subscribeDeadLetters(contract, {}, (l) => void letters.push({ ...l, at: Date.now() }));
    await bus.publish(
      contract,
      { seq: 0, key: 'p', payload: 'poison' },
      { key: 'p', headers: { 'x-origin': 'conformance' } },
    );
    await bus.publish(contract, { seq: 1, key: 'p', payload: 'after poison, same key' }, { key: 'p' });
    for (let seq = 2; seq < 12; seq++)
      await bus.publish(contract, { seq, key: `other${seq}`, payload: 'ok' }, { key: `other${seq}` });
    await ctx.waitFor(
      () => letters.length >= 1 && done.size >= 11,
      () => `${letters.length}/1 dead letters, ${done.size}/11 other events`,
    );
    check(
      JSON.stringify(attempts.map((a) => a.attempt)) === '[1,2,3]',
      () => `attempts seen: ${JSON.stringify(attempts.map((a) => a.attempt))}`,
    );
    const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
    check(
      gaps[0]! >= 140 && gaps[1]! >= 290,
      () => `backoff not respected: gaps ${gaps.join(', ')} ms, expected ≥150 then ≥300`,
    );
    const letter = letters[0]!;
    check(
      letter.reason === 'max-attempts' && letter.attempts === 3 && /always fails/.test(letter.error),
      () => `dead letter: ${JSON.stringify(letter)}`,
    );
    check(letter.headers['x-origin'] === 'conformance', () => 'dead letter lost the original headers');
    const others = [...done].filter(([seq]) => seq >= 2).map(([, at]) => at);
    check(Math.max(...others) < attempts[2]!.at, () => 'other keys waited for the poison event');
    check(
      done.get(1)! >= attempts[2]!.at,
      () => 'the next event of the poison key ran before the poison event was dead-lettered',
    );
  },
};

const idempotent: ConformanceCase = {
  name: 'idempotent-consumption',
  requires: ['crashRedelivery'],
  timeoutMs: 120_000,
  async run(ctx) {
    const topic = ctx.topic();
    const contract = testContract(topic);
    const store = new MemoryIdempotencyStore();
    const effects = new Map<string, number>();
    const effect = (id: string) => effects.set(id, (effects.get(id) ?? 0) + 1);
    const publisher = await ctx.bus();
    await publisher.provision(contract, { groups: ['once'] });
    // 1. Duplicate publish: same id twice.
    const first = await ctx.bus();
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
    // 2. Crash between the side effect (recorded) and the ack: the redelivery must not run it again.
    const crashing = await ctx.bus();
    const crashId = '22222222-2222-4222-8222-222222222222';
    let crashed = false;
    const crashAfterRecord: IdempotencyStore = {
      claim: (k, l) => store.claim(k, l),
      release: (k) => store.release(k),
      async complete(k, ttl) {
        await store.complete(k, ttl);
        crashed = true;
        await ctx.crash(crashing);
        await new Promise(() => {}); // the ack never happens
      },
    };
    await crashing.subscribe(
      contract,
      { group: 'once', idempotency: { store: crashAfterRecord } },
      (_e, c) => void effect(c.id),
    );
    await publisher.publish(contract, { seq: 3, key: 'k', payload: 'crash' }, { key: 'k', id: crashId });
    await ctx.waitFor(
      () => crashed,
      () => 'the crashing instance never handled the event',
    );
    const acked: string[] = [];
    const survivor = await ctx.bus();
    await survivor.subscribe(contract, { group: 'once', idempotency: { store } }, (_e, c) => {
      effect(c.id);
      acked.push(c.id);
    });
    await publisher.publish(contract, { seq: 4, key: 'k', payload: 'after' }, { key: 'k' });
    await ctx.waitFor(
      () => acked.length >= 1,
      () => 'survivor never received the event after the crash',
      90_000,
    );
    check(
      effects.get(crashId) === 1,
      () => `redelivery after crash ran the handler ${effects.get(crashId)} times`,
    );
  },
};

const concurrencyLimit: ConformanceCase = {
  name: 'concurrency-limit',
  requires: [],
  timeoutMs: 60_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    let inFlight = 0;
    let peak = 0;
    let handled = 0;
    await bus.subscribe(contract, { group: 'g', concurrency: 3 }, async () => {
      peak = Math.max(peak, ++inFlight);
      await sleep(15);
      inFlight--;
      handled++;
    });
    await publishKeyed(bus, contract, 90, 90);
    await ctx.waitFor(
      () => handled >= 90,
      () => `${handled}/90 handled`,
    );
    check(peak <= 3, () => `${peak} handlers ran at once with concurrency 3`);
    check(peak > 1, () => 'handlers never ran concurrently (peak 1) with concurrency 3');
  },
};

const gracefulClose: ConformanceCase = {
  name: 'graceful-close',
  requires: [],
  timeoutMs: 120_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    await bus.provision(contract, { groups: ['g'] });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started = new Set<number>();
    const finished = new Set<number>();
    const sub = await bus.subscribe(contract, { group: 'g', concurrency: 4 }, async (event) => {
      started.add(event.seq);
      await gate;
      finished.add(event.seq);
    });
    await publishKeyed(bus, contract, 20, 20);
    await ctx.waitFor(
      () => started.size >= 4,
      () => `${started.size}/4 handlers started`,
    );
    let closed = false;
    const closing = sub.close().then(() => (closed = true));
    await sleep(300);
    check(!closed, () => 'close() returned while handlers were still running');
    release();
    await closing;
    await sub.close(); // twice is harmless
    check(
      finished.size === started.size,
      () => `close() did not wait: ${finished.size} of ${started.size} finished`,
    );
    const completedBeforeClose = new Set(finished);
    const redelivered: number[] = [];
    const rest = new Set<number>();
    const other = await ctx.bus();
    await other.subscribe(contract, { group: 'g' }, (event) => {
      if (completedBeforeClose.has(event.seq)) redelivered.push(event.seq);
      rest.add(event.seq);
    });
    await ctx.waitFor(
      () => rest.size + completedBeforeClose.size >= 20,
      () => `${20 - rest.size - completedBeforeClose.size} unfinished events were not redelivered`,
      100_000,
    );
    check(redelivered.length === 0, () => `events completed before close were redelivered: ${redelivered}`);
    await bus.close();
    await bus.close();
    let error: unknown;
    try {
      await bus.publish(contract, { seq: 99, key: 'k', payload: 'late' });
    } catch (e) {
      error = e;
    }
    check((error as { code?: string })?.code === 'CLOSED', () => `publish after close: ${error}`);
  },
};

export const deliveryCases = [
  atLeastOnceThrow,
  atLeastOnceCrash,
  retryThenDeadLetter,
  idempotent,
  concurrencyLimit,
  gracefulClose,
];
