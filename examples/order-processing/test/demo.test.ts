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
