import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('the README tracing snippet runs and prints one trace of four spans, each under the one before', () => {
  const main = new URL('../src/main.ts', import.meta.url).pathname;
  // execArgv carries the workspace's source condition, as fork() would.
  const output = execFileSync(process.execPath, [...process.execArgv, main], {
    env: { ...process.env, BROKER_URL: 'memory://' },
    encoding: 'utf8',
  });
  expect(output.trim().split('\n')).toEqual([
    '1 trace, 4 spans:',
    'send observability.order.placed (producer)',
    '  process observability.order.placed (consumer, group payments, attempt 1, ack)',
    '    send observability.payment.captured (producer)',
    '      process observability.payment.captured (consumer, group ledger, attempt 1, ack)',
  ]);
});
