import { exec } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type ConformanceCase, check, Ledger, sleep, testContract } from '../harness.ts';
import { expectedOrder, RunObserver } from '../observe.ts';

const TOTAL = 10_000;
const KEYS = 100;

/** Runs the user's restart command; resolves with its duration, rejects with its output's tail. */
async function restartBroker(command: string | (() => Promise<void>)): Promise<number> {
  const started = Date.now();
  if (typeof command === 'function') {
    await command();
    return Date.now() - started;
  }
  return new Promise((resolve, reject) => {
    exec(command, { timeout: 300_000, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(Date.now() - started);
      const tail = `${stdout}${stderr}`.trim().split('\n').slice(-5).join(' | ');
      reject(new Error(`restart command failed (${error.message.split('\n')[0]}): ${tail}`));
    });
  });
}

/**
 * The broker restarts twice while 10,000 keyed events flow (as Watermill's TestReconnect): the publisher
 * retries what failed, as a service would, and the subscriber must resume by itself. Ledger: nothing lost;
 * per key, first handlings in publish order and never two at once. Duplicates are allowed and counted.
 */
const brokerRestart: ConformanceCase = {
  name: 'broker-restart',
  requires: ['persistent', 'crashRedelivery'],
  needs: ['restartCommand'],
  timeoutMs: 1_200_000,
  async run(ctx) {
    ctx.allowErrors(); // connection losses are the point of the case
    const contract = testContract(ctx.topic());
    const publisher = await ctx.bus('publisher');
    const subscriber = await ctx.bus('subscriber');
    await publisher.provision(contract, { groups: ['restart'] });
    const ledger = new Ledger();
    const observer = new RunObserver();
    await subscriber.subscribe(contract, { group: 'restart', concurrency: 16 }, (event, c) =>
      observer.observe(event.key, event.seq, 'subscriber', async () => ledger.complete(c.id)),
    );
    const sent: { key: string; seq: number }[] = [];
    let published = 0;
    let retries = 0;
    // The broker restarts while events flow: at 20 % and 60 % of the publishing, one restart at a time.
    const restarts: number[] = [];
    let restarting: Promise<void> | undefined;
    let restartFailure: unknown;
    const thresholds = [TOTAL * 0.2, TOTAL * 0.6];
    const restartIfDue = () => {
      if (restarting || thresholds.length === 0 || published < thresholds[0]!) return;
      thresholds.shift();
      restarting = restartBroker(ctx.options.restartCommand!).then(
        (ms) => {
          restarts.push(ms);
          restarting = undefined;
        },
        (error: unknown) => {
          restartFailure = error;
          restarting = undefined;
        },
      );
    };
    let lastError = '';
    let publishingDone = false;
    const publishing = Promise.all(
      Array.from({ length: KEYS }, async (_, k) => {
        const key = `k${k}`;
        for (let seq = k; seq < TOTAL; seq += KEYS) {
          const id = randomUUID(); // kept across retries: a publish that failed but was stored is a duplicate
          for (;;) {
            try {
              await publisher.publish(contract, { seq, key, payload: 'r' }, { key, id });
              break;
            } catch (error) {
              retries++;
              lastError = (error as Error).message;
              await sleep(500);
            }
          }
          ledger.published.add(id);
          sent.push({ key, seq });
          published++;
          restartIfDue();
        }
      }),
    ).finally(() => {
      publishingDone = true;
    });
    // Publishing that stops moving (a producer that never recovers from the restart) fails here, saying so.
    await ctx.waitFor(
      () => publishingDone,
      () =>
        `${published} of ${TOTAL} events published, ${restarts.length} restart(s) done, ${retries} publish retries${lastError ? ` (last error: ${lastError})` : ''}`,
      { timeoutMs: 600_000, stallMs: ctx.stall(4) },
    );
    await publishing;
    // Publishing outran the restarts (a fast broker): the rest happen while the subscriber catches up.
    while (restarting || thresholds.length > 0) {
      await restarting;
      if (restartFailure) throw restartFailure;
      if (thresholds.shift() !== undefined) restarts.push(await restartBroker(ctx.options.restartCommand!));
    }
    await ctx.waitFor(
      () => ledger.done(),
      () => `after ${restarts.length} restarts: ${ledger.describe()}`,
      { timeoutMs: 600_000, stallMs: ctx.stall(4) },
    );
    ctx.notes.push(
      `restarts took ${restarts.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(' and ')}; ${retries} publish retries; ${ledger.duplicates().length} duplicate deliveries`,
    );
    check(observer.overlaps.length === 0, () => observer.describeOverlaps());
    const problem = observer.orderProblem(expectedOrder(sent));
    check(problem === undefined, () => problem!);
  },
};

export const restartCases = [brokerRestart];
