import { defineConfig } from 'vitest/config';
import { workspaceSource } from '../vitest.shared.ts';

// The suite on the embedded broker (memory://); real brokers run it from their adapter's project.
export default defineConfig({
  ...workspaceSource,
  test: { name: 'conformance', include: ['test/**/*.test.ts'], testTimeout: 120_000 },
});
