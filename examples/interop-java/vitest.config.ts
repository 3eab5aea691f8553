import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../../vitest.shared.ts';

export default defineConfig({
  ...workspaceSource,
  // The first run builds the Java program with Maven (minutes when ~/.m2 is empty).
  test: {
    name: 'example-interop-java',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
