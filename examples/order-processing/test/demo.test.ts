import { expect, it } from 'vitest';
import { runDemo } from '../src/demo.ts';

it('the demo processes every order once per service, dead-letters the poison order and absorbs the duplicate', async () => {
  const summary = await runDemo('memory://');
  expect(summary).toMatchObject({
    published: 6,
    handlerRuns: 10,
    payments: 4,
    inventory: 5,
    shipping: 5,
    captured: 4,
  });
  expect(summary.deadLetters).toEqual([
    expect.objectContaining({
      group: 'payments',
      attempts: 3,
      error: expect.stringContaining('issuer unreachable'),
    }),
  ]);
  expect(summary.lines.at(-1)).toMatch(/^done in/);
});

it('the README quick-start snippet runs and prints the charge', async () => {
  const { execFileSync } = await import('node:child_process');
  const quickstart = new URL('../src/quickstart.ts', import.meta.url).pathname;
  // execArgv carries the workspace's source condition, as fork() would.
  const output = execFileSync(process.execPath, [...process.execArgv, quickstart], {
    env: { ...process.env, BROKER_URL: 'memory://' },
    encoding: 'utf8',
  });
  expect(output).toContain('charging c-7 1299 cents (attempt 1)');
});

it('pnpm demo --trace prints the first order’s trace: publish, then payments, inventory and shipping under it', async () => {
  const { execFileSync } = await import('node:child_process');
  const main = new URL('../src/main.ts', import.meta.url).pathname;
  const { BROKER_URL: _url, OMNIBUS_DEMO_TRACE: _trace, ...inherited } = process.env;
  const run = (args: string[], env: Record<string, string> = {}) =>
    execFileSync(process.execPath, [...process.execArgv, main, ...args], {
      env: { ...inherited, ...env },
      encoding: 'utf8',
    });
  const expected = [
    expect.stringMatching(/^trace [\da-f]{32} — order o1 through the services, 6 spans:$/),
    '  send shop.order.placed — shop, N ms',
    '    process shop.order.placed — payments, ack, N ms',
    '      send shop.payment.captured — payments, N ms',
    '        process shop.payment.captured — ledger, ack, N ms',
    '    process shop.order.placed — inventory, ack, N ms',
    '    process shop.order.placed — shipping, ack, N ms',
  ];
  // The tree follows the summary; durations vary, so they are replaced by N.
  const tree = (output: string) =>
    output
      .trim()
      .split('\n')
      .slice(
        output
          .trim()
          .split('\n')
          .findIndex((line) => line.startsWith('trace ')),
      )
      .map((line) => line.replace(/\d+\.\d ms$/, 'N ms'));
  const flagged = run(['memory://', '--trace']);
  expect(flagged).toContain('done in');
  expect(tree(flagged)).toEqual(expected);
  expect(tree(run([], { OMNIBUS_DEMO_TRACE: '1' }))).toEqual(expected);
  expect(run([])).not.toContain('trace ');
});
