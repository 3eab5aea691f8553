import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../vitest.shared.ts';

export default defineConfig({
  ...workspaceSource,
  test: { name: 'benchmarks', include: ['test/**/*.test.ts'], testTimeout: 10_000 },
});
