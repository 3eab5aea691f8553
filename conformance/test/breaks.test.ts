import { describe, expect, it } from 'vitest';
import { allCases, type CaseResult, runCase, type SuiteOptions } from '../src/index.ts';
import { probe } from '../src/runner.ts';
import { amnesia, type BreakName } from './fixtures/breaks.ts';

/**
 * The suite proves it can fail: each deliberately broken transport (test/fixtures/breaks.ts) must fail the
 * cases named after the promise it breaks, with a message saying what was seen. The same cases pass on the
 * intact memory:// broker (test/memory.test.ts).
 */
const suite: SuiteOptions & { inProcess: boolean } = { inProcess: true, stallMs: 2_000 };

async function run(
  scheme: BreakName | 'memory',
  caseName: string,
  options: SuiteOptions = {},
  query = '',
): Promise<CaseResult> {
  const url = `${scheme}://${caseName}${query}`;
  const testCase = allCases.find((c) => c.name === caseName);
  if (!testCase) throw new Error(`no case ${caseName}`);
  const { capabilities } = await probe(url);
  return runCase(url, testCase, capabilities, { ...suite, ...options });
}

async function expectFailure(
  scheme: BreakName | 'memory',
  caseName: string,
  message: RegExp,
  options?: SuiteOptions,
  query?: string,
) {
  const result = await run(scheme, caseName, options, query);
  expect(result.status, `${caseName} on ${scheme}://`).toBe('failed');
  expect(result.error).toMatch(message);
}

describe('per-key serial handling: a key never runs two handlers at once', () => {
  it.each(['ordering-per-key-one-instance', 'ordering-per-key-across-instances', 'ordering-join-and-leave'])(
    '%s fails when the per-key chaining is gone',
    (name) =>
      expectFailure(
        'no-key-chaining',
        name,
        /same-key overlap\(s\): key k\d+: seq \d+ \(instance \d\) started while seq \d+/,
      ),
  );
});

it('ordering-join-and-leave fails when a partition moves before its in-flight events settled', () =>
  expectFailure(
    'handover-without-drain',
    'ordering-join-and-leave',
    /same-key overlap|started after|completed after/,
  ));

it('competing-consumers fails when every instance receives every event', () =>
  expectFailure('copies-not-split', 'competing-consumers', /handled more than once with no fault injected/));

describe('close() hands back what has not started', () => {
  it('fails when release() acks', () =>
    expectFailure(
      'release-acks',
      'close-hands-back',
      /after close\(\) and a new instance: \d+ of \d+ ids never completed/,
    ));
  it('fails when close() acks what is still unsettled', () =>
    expectFailure(
      'close-acks',
      'close-hands-back',
      /after close\(\) and a new instance: \d+ of \d+ ids never completed/,
    ));
});

it('sigterm-graceful-exit fails when shutting down acks what was not run', () =>
  expectFailure(
    'close-acks',
    'sigterm-graceful-exit',
    /after the graceful exit: \d+ of 40 ids never completed/,
  ));

describe('crashes lose nothing', () => {
  it('at-least-once-crash fails when a dead instance acks what it held', () =>
    expectFailure('close-acks', 'at-least-once-crash', /after the crash: \d+ of 200 ids never completed/));
  it('at-least-once-crash fails when events are acked before their handler ran', () =>
    expectFailure('ack-early', 'at-least-once-crash', /after the crash: \d+ of 200 ids never completed/));
  it('idempotent-consumption fails when the event held at death is lost instead of redelivered', () =>
    expectFailure('close-acks', 'idempotent-consumption', /never redelivered \(lost\)/));
});

it('shared-idempotency-store fails when the store ignores a live lease', () =>
  expectFailure('memory', 'shared-idempotency-store', /ran more than once across two instances/, {
    idempotencyStore: 'ignores-lease://x',
  }));

describe('lease-keep-alive (a broker with a visibility timeout)', () => {
  it('fails when deliveries are not kept alive: the long handler and the retry run again', () =>
    expectFailure(
      'no-keep-alive',
      'lease-keep-alive',
      /expected only the failing event to run twice \(its retry\), saw: .*slow\/0 ran [2-9]×/,
      {},
      '?leaseMs=300',
    ));
  it('passes on memory:// with the same lease, where the core touches what it holds', async () => {
    expect(await run('memory', 'lease-keep-alive', {}, '?leaseMs=300')).toMatchObject({ status: 'passed' });
  });
});

it('retry-then-dead-letter fails when dead letters are not stored', () =>
  expectFailure('dead-letters-vanish', 'retry-then-dead-letter', /0\/1 dead letters/));

it('a background error fails an otherwise passing case', () =>
  expectFailure(
    'background-error',
    'round-trip',
    /background error\(s\) reported by the buses \(first, from bus1: lost the consumer \(injected\)\)/,
  ));

it('credentials-never-printed fails when a connection error repeats the URL with its password', () =>
  expectFailure(
    'leaky-errors',
    'credentials-never-printed',
    /the password was printed in \d+ URL shape\(s\): well-formed, wrong password: «… \[cause\]: { connectionString: 'leaky-errors:\/\/omnibus:<password>…»/,
  ));

describe('broker-restart', () => {
  it('fails when the broker forgets what it confirmed during a restart', () =>
    expectFailure('amnesiac', 'broker-restart', /after 2 restarts: \d+ of 10000 ids never completed/, {
      restartCommand: async () => {
        amnesia.down = true;
        await new Promise((resolve) => setTimeout(resolve, 300));
        amnesia.down = false;
      },
    }));
  it('passes when the broker keeps everything, and reports the restarts', async () => {
    const result = await run('amnesiac', 'broker-restart', { restartCommand: async () => {} });
    expect(result).toMatchObject({ status: 'passed' });
    expect(result.notes?.join()).toMatch(/restarts took .* publish retries; \d+ duplicate deliveries/);
  });
});
