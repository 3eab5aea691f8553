import { expect, it } from 'vitest';
import { check } from '../src/harness.ts';
import { allCases, type ConformanceCase, runCase } from '../src/index.ts';
import { formatJunit, formatTable } from '../src/report.ts';
import { probe } from '../src/runner.ts';

const capabilities = async () => (await probe('memory://')).capabilities;
const suite = { inProcess: true };

it('a case whose capability the adapter lacks is skipped, naming the capability', async () => {
  const fanOut = allCases.find((c) => c.name === 'fan-out')!;
  const result = await runCase('memory://', fanOut, { ...(await capabilities()), fanOut: false }, suite);
  expect(result).toMatchObject({ status: 'skipped', skippedBecause: 'adapter lacks capability: fanOut' });
});

it('a broken promise fails with what was seen; a hung case fails with its time-out', async () => {
  const broken: ConformanceCase = {
    name: 'broken',
    requires: [],
    timeoutMs: 5_000,
    run: async () => check(false, () => '3 of 10 ids never completed'),
  };
  const hung: ConformanceCase = {
    name: 'hung',
    requires: [],
    timeoutMs: 50,
    run: () => new Promise(() => {}),
  };
  const caps = await capabilities();
  expect(await runCase('memory://', broken, caps, suite)).toMatchObject({
    status: 'failed',
    error: '3 of 10 ids never completed',
  });
  const timedOut = await runCase('memory://', hung, caps, suite);
  expect(timedOut).toMatchObject({ status: 'failed', error: 'case did not finish within 50 ms' });
  const report = {
    broker: 'memory://',
    adapter: 'memory',
    capabilities: caps,
    cases: [timedOut],
    summary: { passed: 0, failed: 1, skipped: 0 },
  };
  expect(formatTable(report)).toMatch(
    /\| hung .*\| failed .*case did not finish[\s\S]*\n0 passed, 1 failed, 0 skipped$/,
  );
  expect(formatJunit(report)).toContain('<failure message="case did not finish within 50 ms"/>');
});

it('runs a third-party adapter given with --adapter, ending with the summary line', async () => {
  const { execFileSync } = await import('node:child_process');
  const cli = new URL('../src/cli.ts', import.meta.url).pathname;
  const adapter = new URL('./fixtures/relay-adapter.ts', import.meta.url).pathname;
  // execArgv carries the workspace's source condition, as fork() would.
  const output = execFileSync(
    process.execPath,
    [...process.execArgv, cli, 'relay://suite', '--adapter', adapter, '--only', 'round-trip,fan-out'],
    {
      encoding: 'utf8',
    },
  );
  expect(output).toMatch(/adapter: |round-trip/);
  expect(output.trim().split('\n').at(-1)).toBe('2 passed, 0 failed, 0 skipped');
});
