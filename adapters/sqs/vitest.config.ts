import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../../vitest.shared.ts';

// The `sqs` project: the conformance suite and SQS-specific tests against a real SQS endpoint (SQS_URL,
// .brokers/brokers.env or testcontainers; see scripts/brokers). One file at a time: the tests share one
// ElasticMQ on a small machine, and visibility hand-overs are timing-sensitive.
export default defineConfig({
  ...workspaceSource,
  test: {
    name: 'sqs',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@omnibus/brokers-dev/global-setup'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
