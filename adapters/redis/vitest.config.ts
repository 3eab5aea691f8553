import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../../vitest.shared.ts';

// The `redis` project: the conformance suite and Redis-specific tests against a real Redis (REDIS_URL,
// .brokers/brokers.env or testcontainers; see scripts/brokers). One file at a time: the tests share one
// Redis on a small machine, and lease hand-overs are timing-sensitive.
export default defineConfig({
  ...workspaceSource,
  test: {
    name: 'redis',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@omnibus/brokers-dev/global-setup'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
