import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.ts';
import { runTargets } from '../src/run.ts';

// The CI quick path on the brokers that need no server (memory:// and the codec): every row is there and
// every figure and ratio is a number. Figures themselves are never asserted.

/** The cells of the table row whose first cell starts with `name`, or undefined. */
function row(text: string, name: string): string[] | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`| ${name}`));
  return line
    ?.split('|')
    .slice(1, -1)
    .map((cell) => cell.trim());
}

/** A printed figure (`12 345`, `1.5`, `0.52×`) as a number; NaN for `—`, `n/a` or anything else. */
function figure(cell: string | undefined): number {
  const text = (cell ?? '').replaceAll(' ', '').replace(/×$/, '');
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
}

describe('pnpm bench --quick (memory:// and codec)', () => {
  it('prints every row with numeric figures and ratios', async () => {
    const options = parseArgs(['--quick', '--broker', 'memory,rss,codec', '--quiet'], {});
    expect(options.quick).toBe(true);
    expect(options.messages).toBe(300);
    expect(options.rssMessages).toBe(20_000);
    const printed: string[] = [];
    const failed = await runTargets(options, (text) => printed.push(text));
    const text = printed.join('\n');
    expect(failed).toBe(false);

    for (const name of ['publish (msg/s)', 'publish N, then consume N (msg/s)']) {
      const cells = row(text, name);
      expect(cells, name).toBeDefined();
      expect(figure(cells?.[2]), name).toBeGreaterThan(0);
    }

    for (const name of ['RSS MiB', 'heap after GC MiB']) {
      const cells = row(text, name);
      expect(cells, name).toBeDefined();
      // start, after chunk 1, end, max, end / after chunk 1
      for (const cell of cells!.slice(1)) expect(figure(cell), `${name}: ${cell}`).toBeGreaterThan(0);
    }
    expect(text).toMatch(/\| 20 000 +\| +\d+\.\d \| +\d+\.\d \| +\d+\.\d \|/);

    for (const name of ['encode (ops/s)', 'decode (ops/s)', 'encode + validate', 'decode + validate']) {
      const cells = row(text, name);
      expect(cells, name).toBeDefined();
      // Avro ops/s, JSON ops/s, Avro/JSON
      for (const cell of cells!.slice(1)) expect(figure(cell), `${name}: ${cell}`).toBeGreaterThan(0);
    }
  }, 30_000);

  it('parses --quick without overriding explicit flags, and the new targets', () => {
    const quick = parseArgs(['--quick', '--runs', '3', '--quiet'], {});
    expect(quick.runs).toBe(3);
    expect(quick.messages).toBe(300);
    expect(quick.sqsMessages).toBe(100);
    expect(quick.targets).toEqual(['e2e', 'latency', 'sqs', 'memory', 'rss', 'rss-kafka', 'codec']);
    expect(quick.rssKafkaMessages).toBe(2_000);
    const full = parseArgs(['--broker', 'e2e,latency', '--rate', '500', '--results', '--quiet'], {});
    expect(full.targets).toEqual(['e2e', 'latency']);
    expect(full.rate).toBe(500);
    expect(full.results).toBe(true);
    expect(full.e2eSize).toBe(1_024);
    expect(full.rssMessages).toBe(200_000);
    expect(full.rssKafkaMessages).toBe(1_000_000);
    expect(full.ceilingRecords).toBe(200_000); // the Java client warm, not its JIT warm-up
    expect(quick.ceilingRecords).toBe(0); // 0: the e2e N
    expect(parseArgs(['--ceiling-records', '100000', '--quiet'], {}).ceilingRecords).toBe(100_000);
    expect(parseArgs(['--broker', 'rss-kafka', '--quiet'], {}).targets).toEqual(['rss-kafka']);
    expect(parseArgs(['--size', '300', '--messages', '1000000', '--quiet'], {})).toMatchObject({
      e2eSize: 300,
      rssMessages: 1_000_000,
      rssKafkaMessages: 1_000_000,
    });
    expect(parseArgs(['--broker', 'rss', '--messages', '5000', '--quiet'], {}).rssKafkaMessages).toBe(5_000);
  });
});
