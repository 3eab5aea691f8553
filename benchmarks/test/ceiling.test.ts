import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CeilingUnavailable, kafkaToolsClasspath, parseProducerPerformance } from '../src/ceiling.ts';
import { type E2eReport, emptySamples } from '../src/e2e.ts';
import { formatE2eReport } from '../src/tables.ts';

// The Kafka ceiling without a broker: parsing ProducerPerformance's summary, the reason printed when
// it cannot run, and its table next to the e2e contenders.

const SUMMARY =
  '20000 records sent, 41580.0 records/sec (40.61 MB/sec), 150.10 ms avg latency, 410.00 ms max latency, 130 ms 50th, 380 ms 95th, 400 ms 99th, 410 ms 99.9th.';

function kafkaReport(ceiling: E2eReport['ceiling']): E2eReport {
  const samples = emptySamples();
  const publish = {
    'raw JSON': [40_000, 30_000],
    'raw omnibus bytes': [20_000, 20_000],
    omnibus: [10_000, 15_000],
  };
  for (const phase of ['publish', 'consume', 'end-to-end'] as const)
    for (const [variant, rates] of Object.entries(publish))
      samples[phase][variant as keyof typeof publish] = rates.map((rate) => ({ rate, cpuUs: 10 }));
  return { broker: 'kafka', status: 'ok', conditions: [], samples, ...(ceiling ? { ceiling } : {}) };
}

describe('Kafka ceiling (ProducerPerformance)', () => {
  it('reads the records/s of the summary line, not of the progress lines', () => {
    const stdout = `9000 records sent, 1799.6 records/sec (1.76 MB/sec), 12.0 ms avg latency, 300.0 ms max latency.\n${SUMMARY}\n`;
    expect(parseProducerPerformance(stdout)).toEqual({ rate: 41_580, summary: SUMMARY });
    expect(
      parseProducerPerformance('Exception in thread "main" org.apache.kafka.common.errors.TimeoutException'),
    ).toBe(undefined);
  });

  it('says why it cannot run when its jars are not cached and fetching is off', async () => {
    const lib = join(mkdtempSync(join(tmpdir(), 'omnibus-ceiling-')), 'lib');
    const attempt = kafkaToolsClasspath(false, undefined, lib);
    await expect(attempt).rejects.toBeInstanceOf(CeilingUnavailable);
    // Without java the reason names java; with it, the missing cache.
    await expect(attempt).rejects.toThrow(/java not runnable|kafka-tools jars not cached in .*lib/);
  });

  it('prints ProducerPerformance against each contender, ratios paired by run', () => {
    const text = formatE2eReport(kafkaReport({ conditions: ['ceiling: test'], rates: [50_000, 60_000] }));
    expect(text).toContain("### kafka: ceiling (Kafka's ProducerPerformance), publish only");
    const row = (name: string) =>
      text
        .split('\n')
        .find((l) => l.startsWith(`| ${name}`))
        ?.split('|')
        .slice(1, -1)
        .map((c) => c.trim());
    expect(row('ProducerPerformance (ceiling)')).toEqual([
      'ProducerPerformance (ceiling)',
      '55 000',
      '1.00×',
      '50 000, 60 000',
    ]);
    // raw JSON: 40 000 / 50 000 = 0.80 and 30 000 / 60 000 = 0.50 → median 0.65
    expect(row('raw JSON')?.slice(1, 3)).toEqual(['35 000', '0.65×']);
    // omnibus: 0.20 and 0.25 → 0.23 (0.225)
    expect(row('omnibus')?.slice(1, 3)).toEqual(['12 500', '0.23×']);
  });

  it('prints one unavailable line instead of the table, and the e2e table stays', () => {
    const note = 'kafka ceiling unavailable — java not runnable (spawn java ENOENT)';
    const text = formatE2eReport(kafkaReport({ conditions: ['ceiling: test'], rates: [], note }));
    expect(text).toContain('| publish ');
    expect(text.split('\n').filter((l) => l.includes('ceiling unavailable'))).toEqual([note]);
    expect(text).not.toContain('| ProducerPerformance');
    expect(formatE2eReport(kafkaReport(undefined))).not.toContain('ceiling');
  });
});
