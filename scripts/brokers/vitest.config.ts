import { defineConfig } from 'vitest/config';

// The `brokers` project: smoke tests of the four real brokers with their raw clients.
// Standalone (`cd scripts/brokers && pnpm vitest run`) it runs its own broker discovery; under the
// root config's `projects`, the root `globalSetup` does it (the setup is safe to run in both).
export default defineConfig({
  test: {
    name: 'brokers',
    include: ['test/**/*.test.ts'],
    globalSetup: ['./src/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
