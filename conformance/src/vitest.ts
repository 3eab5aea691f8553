import type { Capabilities } from '@omnibus/core';
import { beforeAll, describe, it } from 'vitest';
import { allCases } from './cases/index.ts';
import { CaseContext } from './harness.ts';
import { missingCapability, probe } from './runner.ts';

/**
 * Registers every conformance case as a vitest test against `url`. An adapter's whole conformance test:
 *   describeConformance(brokerUrl('kafka'), { name: 'kafka' });
 * With no URL the block is skipped (the broker set-up says how to provide one). A case whose capability
 * the adapter does not declare is skipped with the capability's name.
 */
export function describeConformance(url: string | undefined, options: { name: string }): void {
  describe.skipIf(!url)(`conformance: ${options.name}`, () => {
    let capabilities: Capabilities;
    beforeAll(async () => {
      capabilities = (await probe(url!)).capabilities;
    }, 60_000);
    for (const testCase of allCases) {
      it(testCase.name, { timeout: testCase.timeoutMs + 30_000 }, async (context) => {
        const reason = missingCapability(testCase, capabilities);
        if (reason) context.skip(reason); // reported with the capability name, never silently absent
        const ctx = new CaseContext(url!, testCase.name, capabilities);
        try {
          await testCase.run(ctx);
        } finally {
          await ctx.dispose();
        }
      });
    }
  });
}
