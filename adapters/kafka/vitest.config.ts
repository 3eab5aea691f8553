import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../../vitest.shared.ts';

// The `kafka` project: runs against a real broker (pnpm brokers:up). Files share one broker, so they run
// one at a time; time-outs are generous because a 2-core machine and consumer-group rebalances are slow.
export default defineConfig({
  ...workspaceSource,
  test: {
    name: 'kafka',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@omnibus/brokers-dev/global-setup'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
