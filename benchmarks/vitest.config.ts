import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'benchmarks', include: ['test/**/*.test.ts'], testTimeout: 10_000 },
});
