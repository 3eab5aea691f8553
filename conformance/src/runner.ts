import { type Capabilities, createBus, redactUrl } from '@omnibus/core';
import { allCases } from './cases/index.ts';
import { CaseContext, type ConformanceCase, type SuiteOptions } from './harness.ts';

export interface CaseResult {
  name: string;
  /** Capability flags the case exercises (empty: every adapter must pass it). */
  capability: string[];
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  error?: string;
  skippedBecause?: string;
  /** What the case saw besides pass/fail (duplicates under faults, restart timings). */
  notes?: string[];
}

export interface ConformanceReport {
  broker: string;
  adapter: string;
  capabilities: Capabilities;
  cases: CaseResult[];
  summary: { passed: number; failed: number; skipped: number };
  /** With `repeat` > 1: the summary of each run, in order. */
  runs?: { run: number; passed: number; failed: number; skipped: number; failedCases: string[] }[];
}

export interface RunOptions extends SuiteOptions {
  /** Cases whose name contains one of these. */
  only?: string[];
  /** Run the whole suite this many times (flakiness hunting). @default 1 */
  repeat?: number;
  onResult?: (result: CaseResult, run: number) => void;
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

/** Why the case cannot run here (a capability the adapter lacks, an option not given), or undefined. */
export function skipReason(
  testCase: ConformanceCase,
  capabilities: Capabilities,
  options: SuiteOptions = {},
): string | undefined {
  const missing = testCase.requires.filter((flag) => !capabilities[flag]);
  if (missing.length > 0) return `adapter lacks capability: ${missing.join(', ')}`;
  const unset = (testCase.needs ?? []).filter((option) => options[option] === undefined);
  if (unset.length > 0)
    return `needs suite option: ${unset.join(', ')} (CLI: ${unset.map(flagOf).join(', ')})`;
  return undefined;
}

const flagOf = (option: string) => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Runs one case against `url` with a fresh context; never throws, returns the result. */
export async function runCase(
  url: string,
  testCase: ConformanceCase,
  capabilities: Capabilities,
  options: SuiteOptions & { inProcess: boolean },
): Promise<CaseResult> {
  const base = { name: testCase.name, capability: testCase.requires };
  const skippedBecause = skipReason(testCase, capabilities, options);
  if (skippedBecause) return { ...base, status: 'skipped', durationMs: 0, skippedBecause };
  const ctx = new CaseContext(url, testCase.name, capabilities, options);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      testCase.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          const waiting = ctx.waitingFor ? ` while waiting: ${ctx.waitingFor}` : '';
          reject(new Error(`case did not finish within ${testCase.timeoutMs} ms${waiting}`));
        }, testCase.timeoutMs);
      }),
    ]);
    const unexpected = ctx.unexpectedErrors();
    if (unexpected) throw new Error(unexpected);
    return { ...base, status: 'passed', durationMs: elapsed(), ...notesOf(ctx) };
  } catch (error) {
    const message = redactSecrets((error as Error).message ?? String(error), url);
    return { ...base, status: 'failed', durationMs: elapsed(), error: message, ...notesOf(ctx) };
  } finally {
    clearTimeout(timer);
    await ctx.dispose();
  }
}

const notesOf = (ctx: CaseContext) => (ctx.notes.length > 0 ? { notes: [...ctx.notes] } : {});

export async function runConformance(url: string, options: RunOptions = {}): Promise<ConformanceReport> {
  const { adapter, capabilities } = await probe(url);
  const suite = { ...options, inProcess: options.inProcess ?? adapter === 'memory' };
  const cases = options.only?.length
    ? allCases.filter((c) => options.only!.some((name) => c.name.includes(name)))
    : allCases;
  const results: CaseResult[] = [];
  const runs: NonNullable<ConformanceReport['runs']> = [];
  const repeat = Math.max(1, options.repeat ?? 1);
  for (let run = 1; run <= repeat; run++) {
    const ofRun: CaseResult[] = [];
    for (const testCase of cases) {
      const result = await runCase(url, testCase, capabilities, suite);
      ofRun.push(result);
      options.onResult?.(result, run);
    }
    results.push(...ofRun);
    runs.push({
      run,
      ...count(ofRun),
      failedCases: ofRun.filter((r) => r.status === 'failed').map((r) => r.name),
    });
  }
  return {
    broker: redactUrl(url),
    adapter,
    capabilities,
    cases: results,
    summary: count(results),
    ...(repeat > 1 ? { runs } : {}),
  };
}

function count(results: CaseResult[]) {
  const of = (status: CaseResult['status']) => results.filter((r) => r.status === status).length;
  return { passed: of('passed'), failed: of('failed'), skipped: of('skipped') };
}

function redactSecrets(text: string, url: string): string {
  return text.replaceAll(url, redactUrl(url));
}
