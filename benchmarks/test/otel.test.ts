import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.ts';
import { formatOtelReport, OTEL_VARIANTS, runOtel } from '../src/otel.ts';

// Smoke test only: tiny counts on memory://, asserting shape and that each variant did what it says, never timing.
describe('otel benchmark', () => {
  it('measures the bus without middleware, with openTelemetry() and no SDK, and with an SDK, in one table', async () => {
    const messages = 40;
    const report = await runOtel({
      messages,
      runs: 2,
      size: 64,
      inFlight: 8,
      concurrency: 4,
      timeoutMs: 5_000,
    });
    expect(report.status).toBe('ok');
    expect(report.rows.map((r) => `${r.metric} / ${r.variant}`)).toEqual(
      ['publish', 'publish N, then consume N'].flatMap((metric) =>
        OTEL_VARIANTS.map((v) => `${metric} / ${v}`),
      ),
    );
    for (const row of report.rows) {
      expect(row.rates).toHaveLength(2);
      expect(row.cpu).toHaveLength(2);
      for (const value of [...row.rates, ...row.cpu]) expect(value).toBeGreaterThan(0);
    }
    // The SDK variant traced every event (a send and a process span each); the others left no provider behind.
    expect(report.spansPerRun).toEqual([2 * messages, 2 * messages]);
    const text = formatOtelReport(report);
    expect(text).toContain('## otel');
    for (const variant of OTEL_VARIANTS) expect(text).toContain(`| ${variant}`);
    expect(text).toMatch(/\| publish\s+\| no middleware\s+\|\s+[\d ]+\|\s+1\.00× \|/);
  });

  it('is chosen with --broker otel, on memory:// unless --otel-url says otherwise', () => {
    expect(parseArgs(['--broker', 'otel', '--quiet'], {})).toMatchObject({ targets: ['otel'] });
    expect(parseArgs(['--broker', 'otel', '--quiet'], {}).otelUrl).toBeUndefined();
    expect(parseArgs(['--broker=otel', '--otel-url', 'redis://h:6379', '--quiet'], {}).otelUrl).toBe(
      'redis://h:6379',
    );
    expect(parseArgs(['--broker', 'all', '--quiet'], {}).targets).not.toContain('otel');
  });
});
