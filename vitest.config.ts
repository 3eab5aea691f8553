import { defineConfig } from 'vitest/config';

/**
 * `pnpm test` runs every project. Broker-backed projects find their brokers through the shared
 * global setup (env vars → .brokers/brokers.env from `pnpm brokers:up` → testcontainers → skip with a
 * note; `REQUIRE_BROKERS=all` turns a missing broker into a failure). Projects run one file at a time:
 * they share the brokers and a small machine, and timing-sensitive cases must not starve each other.
 */
export default defineConfig({
  test: {
    projects: ['packages/*', 'conformance', 'adapters/*', 'scripts/brokers', 'examples/*', 'benchmarks'],
    globalSetup: ['./scripts/brokers/src/global-setup.ts'],
    fileParallelism: false,
    maxWorkers: 1,
  },
});
