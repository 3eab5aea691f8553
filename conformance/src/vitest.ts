import type { Capabilities } from '@omnibus/core';
import { beforeAll, describe, it } from 'vitest';
import { allCases } from './cases/index.ts';
import type { SuiteOptions } from './harness.ts';
import { probe, runCase } from './runner.ts';

/**
 * Registers every conformance case as a vitest test against `url`. An adapter's whole conformance test:
 *   describeConformance(brokerUrl('kafka'), { name: 'kafka' });
 * With no URL the block is skipped (the broker set-up says how to provide one). A case whose capability
 * the adapter does not declare, or whose suite option is not given, is skipped with the reason.
 */
export function describeConformance(url: string | undefined, options: { name: string } & SuiteOptions): void {
  describe.skipIf(!url)(`conformance: ${options.name}`, () => {
    let capabilities: Capabilities;
    let adapter: string;
    beforeAll(async () => {
      ({ capabilities, adapter } = await probe(url!));
    }, 60_000);
    for (const testCase of allCases) {
      it(testCase.name, { timeout: testCase.timeoutMs + 60_000 }, async (context) => {
        const result = await runCase(url!, testCase, capabilities, {
          ...options,
          inProcess: options.inProcess ?? adapter === 'memory',
        });
        if (result.status === 'skipped') context.skip(result.skippedBecause);
        if (result.status === 'failed') throw new Error(result.error);
        for (const note of result.notes ?? []) context.annotate(note);
      });
    }
  });
}
