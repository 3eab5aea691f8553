import { EventEmitter } from 'node:events';
import type { Bus } from '@omnibus/core';
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

/**
 * Subscribes on `bus`, waits until `startedBefore` handlers started, calls close(), and checks that no
 * handler started after close() was called; then a second instance must complete everything else.
 */
async function closeMidStream(
  ctx: CaseContext,
  label: string,
  shape: { count: number; keys: number; concurrency: number; prefetch?: number; handlerMs: number },
): Promise<void> {
  const contract = testContract(ctx.topic(label));
  const first = await ctx.bus(`${label}-first`);
  await first.provision(contract, { groups: ['g'] });
  const ledger = new Ledger();
  let closing = false;
  let started = 0;
  const startedAfterClose: number[] = [];
  const subscription = await first.subscribe(
    contract,
    { group: 'g', concurrency: shape.concurrency, prefetch: shape.prefetch },
    async (event, c) => {
      if (closing) startedAfterClose.push(event.seq);
      started++;
      await sleep(shape.handlerMs);
      ledger.complete(c.id);
    },
  );
  await publishKeyed(first, contract, shape.count, shape.keys, ledger);
  await ctx.waitFor(
    () => started >= shape.concurrency,
    () => `${started} of ${shape.concurrency} handlers started`,
  );
  closing = true;
  await subscription.close();
  check(
    startedAfterClose.length === 0,
    () =>
      `${label}: ${startedAfterClose.length} handler(s) started after close() was called (seq ${startedAfterClose.slice(0, 5).join(', ')}); close() must hand them back instead`,
  );
  const next: Bus = await ctx.bus(`${label}-next`);
  await next.subscribe(contract, { group: 'g' }, (_e, c) => ledger.complete(c.id));
  await ctx.waitFor(
    () => ledger.done(),
    () => `${label}: after close() and a new instance: ${ledger.describe()}`,
  );
}

const closeHandsBack: ConformanceCase = {
  name: 'close-hands-back',
  requires: ['consumerGroups'],
  timeoutMs: 150_000,
  async run(ctx) {
    // A backlog of one key: only one handler can run; the rest waits behind it and must go back.
    await closeMidStream(ctx, 'same-key', { count: 30, keys: 1, concurrency: 1, handlerMs: 50 });
    // Prefetch far above concurrency across many keys: dozens of held events have not started at close().
    await closeMidStream(ctx, 'prefetched', {
      count: 100,
      keys: 100,
      concurrency: 2,
      prefetch: 64,
      handlerMs: 100,
    });
  },
};

/**
 * The SIGTERM a platform sends before it stops a service (`bus.closeOnSignals()`): the instance finishes
 * the handlers it runs, hands the rest back, leaves its group and exits 0 within the grace period; what it
 * finished is never run again, and the other instance takes over at once — not after a session time-out or
 * lease, as it would after a crash.
 */
const sigtermGracefulExit: ConformanceCase = {
  name: 'sigterm-graceful-exit',
  requires: ['consumerGroups'],
  timeoutMs: 150_000,
  async run(ctx) {
    const topic = ctx.topic();
    const contract = testContract(topic);
    const publisher = await ctx.bus('publisher');
    await publisher.provision(contract, { groups: ['graceful'] });
    const ledger = new Ledger();
    const handlerMs = 1_500;
    const leaving = ctx.options.inProcess
      ? await leavingInProcess(ctx, contract, ledger, handlerMs)
      : await leavingChild(ctx, topic, handlerMs);
    const survivorRuns: string[] = [];
    const survivor = await ctx.bus('survivor');
    await survivor.subscribe(contract, { group: 'graceful', concurrency: 8 }, (_e, c) => {
      survivorRuns.push(c.id);
      ledger.complete(c.id);
    });
    await publishKeyed(publisher, contract, 40, 40, ledger);
    await ctx.waitFor(
      () => leaving.started.size >= 2,
      () => `the leaving instance started ${leaving.started.size} of 2 handlers`,
    );
    const signalledAt = Date.now();
    const code = await leaving.terminate();
    const exitedAt = Date.now();
    check(code === 0, () => `the instance exited with code ${code} after SIGTERM, not 0`);
    check(
      exitedAt - signalledAt < 15_000,
      () => `the instance took ${exitedAt - signalledAt} ms to exit after SIGTERM (grace period 15 s)`,
    );
    const unfinished = [...leaving.started].filter((id) => !leaving.done.has(id));
    check(
      unfinished.length === 0,
      () => `${unfinished.length} handler(s) running at SIGTERM did not finish before the exit`,
    );
    for (const id of leaving.done) ledger.complete(id);
    await ctx.waitFor(
      () => ledger.done(),
      () => `after the graceful exit: ${ledger.describe()}`,
    );
    const tookOver = Date.now() - exitedAt;
    ctx.notes.push(`the survivor had everything ${tookOver} ms after the exit`);
    check(
      tookOver < 5_000,
      () =>
        `the survivor needed ${tookOver} ms after the exit to complete the rest: the instance did not hand over at once`,
    );
    const again = survivorRuns.filter((id) => leaving.done.has(id));
    check(
      again.length === 0,
      () => `${again.length} event(s) finished before the exit ran again on the survivor`,
    );
  },
};

interface Leaving {
  started: Set<string>;
  done: Set<string>;
  /** Sends SIGTERM and resolves with the exit code. */
  terminate(): Promise<number | null>;
}

async function leavingChild(ctx: CaseContext, topic: string, handlerMs: number): Promise<Leaving> {
  const child = ctx.child({ kind: 'graceful', topic, group: 'graceful', handlerMs });
  await ctx.waitFor(
    () => child.ready,
    () => 'the child subscriber never became ready',
  );
  return {
    get started() {
      return new Set(child.started);
    },
    done: child.done,
    terminate: async () => {
      child.signal('SIGTERM');
      return child.exited;
    },
  };
}

async function leavingInProcess(
  ctx: CaseContext,
  contract: TestContract,
  ledger: Ledger,
  handlerMs: number,
): Promise<Leaving> {
  const bus = await ctx.bus('leaving');
  const signals = new EventEmitter();
  const started = new Set<string>();
  const done = new Set<string>();
  await bus.subscribe(contract, { group: 'graceful', concurrency: 4 }, async (_e, c) => {
    started.add(c.id);
    await sleep(handlerMs);
    done.add(c.id);
    ledger.complete(c.id);
  });
  const exited = new Promise<number>((resolve) =>
    bus.closeOnSignals({
      source: signals as unknown as NodeJS.Process,
      timeoutMs: 15_000,
      onClosed: (error) => resolve(error === undefined ? 0 : 1),
    }),
  );
  return {
    started,
    done,
    terminate: () => {
      signals.emit('SIGTERM');
      return exited;
    },
  };
}

export const closeCases = [gracefulClose, closeHandsBack, sigtermGracefulExit];
