import { type ConformanceCase, check, Ledger, publishKeyed, sleep, testContract } from '../harness.ts';
import { RunObserver } from '../observe.ts';

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

/**
 * `prefetch: 1`: one held delivery fills the window, and the events of other keys wait behind it at the
 * instance or the broker. Once it settles, they must come without any new publish — an adapter that hands
 * the next one over only when a message arrives (or before its settle is counted) stalls here at the tail,
 * when the partition just settled has nothing more.
 */
const fullWindowRefills: ConformanceCase = {
  name: 'full-window-refills',
  requires: [],
  timeoutMs: 60_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const ledger = new Ledger();
    const order = new Map<string, number[]>();
    await bus.provision(contract, { groups: ['g'] });
    const sent = await publishKeyed(bus, contract, 24, 8, ledger);
    let first = true;
    await bus.subscribe(contract, { group: 'g', concurrency: 1, prefetch: 1 }, async (event, c) => {
      if (first) {
        first = false;
        await sleep(400); // the window is full meanwhile
      }
      order.set(event.key, [...(order.get(event.key) ?? []), event.seq]);
      ledger.complete(c.id);
    });
    await ctx.waitFor(
      () => ledger.done(),
      () => `${ledger.describe()} — with prefetch 1, nothing published after the first delivery`,
    );
    for (const [key, seqs] of order) {
      const expected = sent.filter((e) => e.key === key).map((e) => e.seq);
      check(
        seqs.join() === expected.join(),
        () => `key ${key} ran ${seqs.join(', ')} instead of ${expected.join(', ')}`,
      );
    }
  },
};

/**
 * On a broker that takes unsettled deliveries back after a lease (SQS visibility timeout, Redis pending idle
 * time), a handler running 2.5 leases and a retry waiting 2.5 leases in backoff must not be handed to
 * anyone else: the core keeps them alive. Each event runs as often as the test makes it, in key order.
 */
const leaseKeepAlive: ConformanceCase = {
  name: 'lease-keep-alive',
  requires: ['deliveryLeaseMs'],
  timeoutMs: 900_000,
  async run(ctx) {
    const lease = ctx.capabilities.deliveryLeaseMs!;
    const long = Math.round(lease * 2.5);
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const observer = new RunObserver();
    await bus.subscribe(
      contract,
      { group: 'g', concurrency: 4, maxAttempts: 2, backoff: { initialDelayMs: long, jitter: 0 } },
      (event, c) =>
        observer.observe(event.key, event.seq, 'only', async () => {
          if (event.payload === 'slow') await sleep(long);
          if (event.payload === 'fails-once' && c.attempt === 1) throw new Error('first attempt fails');
        }),
    );
    const events = [
      { seq: 0, key: 'slow', payload: 'slow' },
      { seq: 1, key: 'slow', payload: 'quick' },
      { seq: 2, key: 'retry', payload: 'fails-once' },
      { seq: 3, key: 'retry', payload: 'quick' },
    ];
    for (const event of events) await bus.publish(contract, event, { key: event.key });
    await ctx.waitFor(
      () => observer.completedCount >= 4,
      () =>
        `${observer.completedCount} of 4 events completed (lease ${lease} ms, slow handler and backoff ${long} ms)`,
      { timeoutMs: 4 * long + 120_000, stallMs: long + ctx.stall(1) },
    );
    await sleep(Math.min(lease, 5_000)); // a copy handed out under a live lease would run now
    check(observer.overlaps.length === 0, () => observer.describeOverlaps());
    const runs = observer.duplicates().map((d) => `${d.id} ran ${d.instances.length}×`);
    check(
      JSON.stringify(runs) === JSON.stringify(['retry/2 ran 2×']),
      () => `expected only the failing event to run twice (its retry), saw: ${runs.join(', ') || 'no retry'}`,
    );
    const problem = observer.orderProblem(
      new Map([
        ['slow', [0, 1]],
        ['retry', [2, 3]],
      ]),
    );
    check(problem === undefined, () => problem!);
  },
};

export const deliveryCases = [
  atLeastOnceThrow,
  retryThenDeadLetter,
  concurrencyLimit,
  fullWindowRefills,
  leaseKeepAlive,
];
