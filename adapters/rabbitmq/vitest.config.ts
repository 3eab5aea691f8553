import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../../vitest.shared.ts';

// The `rabbitmq` project: the conformance suite and RabbitMQ-specific tests against a real broker
// (AMQP_URL, .brokers/brokers.env or testcontainers; see scripts/brokers). One file at a time: the
// tests share one broker on a small machine.
export default defineConfig({
  ...workspaceSource,
  test: {
    name: 'rabbitmq',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@omnibus/brokers-dev/global-setup'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
