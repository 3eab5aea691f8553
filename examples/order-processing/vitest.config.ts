import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../../vitest.shared.ts';

export default defineConfig({
  ...workspaceSource,
  test: { name: 'examples', include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
