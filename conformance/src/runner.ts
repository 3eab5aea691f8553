import { type Capabilities, createBus, redactUrl } from '@omnibus/core';
import { allCases } from './cases/index.ts';
import { CaseContext, type ConformanceCase } from './harness.ts';

export interface CaseResult {
  name: string;
  /** Capability flags the case exercises (empty: every adapter must pass it). */
  capability: string[];
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  error?: string;
  skippedBecause?: string;
}

export interface ConformanceReport {
  broker: string;
  adapter: string;
  capabilities: Capabilities;
  cases: CaseResult[];
  summary: { passed: number; failed: number; skipped: number };
}

/** Opens one bus to learn the adapter's name and capabilities. */
export async function probe(url: string): Promise<{ adapter: string; capabilities: Capabilities }> {
  const bus = await createBus(url);
  try {
    return { adapter: bus.transport.name, capabilities: { ...bus.capabilities } };
  } finally {
    await bus.close();
  }
}

export function missingCapability(testCase: ConformanceCase, capabilities: Capabilities): string | undefined {
  const missing = testCase.requires.filter((flag) => !capabilities[flag]);
  return missing.length > 0 ? `adapter lacks capability: ${missing.join(', ')}` : undefined;
}

/** Runs one case against `url` with a fresh context; never throws, returns the result. */
export async function runCase(
  url: string,
  testCase: ConformanceCase,
  capabilities: Capabilities,
): Promise<CaseResult> {
  const base = { name: testCase.name, capability: testCase.requires };
  const skippedBecause = missingCapability(testCase, capabilities);
  if (skippedBecause) return { ...base, status: 'skipped', durationMs: 0, skippedBecause };
  const ctx = new CaseContext(url, testCase.name, capabilities);
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      testCase.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`case did not finish within ${testCase.timeoutMs} ms`)),
          testCase.timeoutMs,
        );
      }),
    ]);
    return { ...base, status: 'passed', durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    const message = redactSecrets((error as Error).message ?? String(error), url);
    return { ...base, status: 'failed', durationMs: Math.round(performance.now() - started), error: message };
  } finally {
    clearTimeout(timer);
    await ctx.dispose();
  }
}

export async function runConformance(
  url: string,
  options: { only?: string[]; onResult?: (result: CaseResult) => void } = {},
): Promise<ConformanceReport> {
  const { adapter, capabilities } = await probe(url);
  const cases = options.only?.length
    ? allCases.filter((c) => options.only!.some((name) => c.name.includes(name)))
    : allCases;
  const results: CaseResult[] = [];
  for (const testCase of cases) {
    const result = await runCase(url, testCase, capabilities);
    results.push(result);
    options.onResult?.(result);
  }
  const count = (status: CaseResult['status']) => results.filter((r) => r.status === status).length;
  return {
    broker: redactUrl(url),
    adapter,
    capabilities,
    cases: results,
    summary: { passed: count('passed'), failed: count('failed'), skipped: count('skipped') },
  };
}

function redactSecrets(text: string, url: string): string {
  return text.replaceAll(url, redactUrl(url));
}
