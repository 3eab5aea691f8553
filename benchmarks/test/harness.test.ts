import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../adapters/sqs/src/codec.ts';
import { parseArgs } from '../src/args.ts';
import {
  type BenchOptions,
  formatBrokerReport,
  formatCodecReport,
  renderTable,
  runBroker,
  runCodec,
} from '../src/harness.ts';
import { sqsFields } from '../src/sqs.ts';
import { ArrivalClock, median, runWindowed } from '../src/stats.ts';

// Smoke test only: tiny counts on memory://, asserting shape and positivity, never timing.
const options: BenchOptions = {
  messages: 50,
  runs: 2,
  size: 128,
  inFlight: 16,
  batch: 10,
  concurrency: 4,
  timeoutMs: 4_000,
  codecOps: 200,
  urls: {
    kafka: 'kafka://127.0.0.1:9092',
    amqp: 'amqp://guest:guest@127.0.0.1:5672',
    redis: 'redis://127.0.0.1:6379',
    sqs: 'sqs://127.0.0.1:9324?region=us-east-1',
  },
};

describe('benchmark harness', () => {
  it('measures memory:// publish and consume and renders a table', async () => {
    const report = await runBroker('memory', options);
    expect(report.status).toBe('ok');
    expect(report.rows.map((r) => r.name)).toEqual(['publish (msg/s)', 'publish N, then consume N (msg/s)']);
    for (const row of report.rows) {
      expect(row.raw).toEqual([]);
      expect(row.sdk).toHaveLength(options.runs);
      for (const value of row.sdk) expect(value).toBeGreaterThan(0);
    }
    const text = formatBrokerReport(report);
    expect(text).toContain('## memory');
    expect(text).toMatch(/\| publish \(msg\/s\)\s+\|\s+n\/a \|/);
    expect(text).toContain('128 B Avro body');
  });

  it('runs the codec micro-benchmark', async () => {
    const codec = await runCodec(64, options.codecOps, 1);
    for (const value of [
      codec.avroEncode,
      codec.jsonEncode,
      codec.avroDecode,
      codec.jsonDecode,
      codec.envelopeEncode,
    ])
      expect(value).toBeGreaterThan(0);
    expect(codec.avroBytes).toBe(64);
    const text = formatCodecReport(codec, 64);
    expect(text).toContain('| encode (ops/s)');
    expect(text).toContain('| decode (ops/s)');
  });

  it('reports a broker that is not there as skipped, without credentials', async () => {
    const report = await runBroker('amqp', {
      ...options,
      urls: { ...options.urls, amqp: 'amqp://bench:s3cret-pass@127.0.0.1:1' },
    });
    expect(report.status).toBe('skipped');
    expect(formatBrokerReport(report)).toContain('unreachable');
    expect(formatBrokerReport(report)).not.toContain('s3cret-pass');
    const sqs = await runBroker('sqs', {
      ...options,
      urls: { ...options.urls, sqs: 'sqs://AKIDBENCH:s3cret-key@127.0.0.1:1?region=us-east-1' },
    });
    expect(sqs.status).toBe('skipped');
    expect(formatBrokerReport(sqs)).toContain('127.0.0.1:1 is unreachable');
    expect(formatBrokerReport(sqs)).not.toContain('s3cret-key');
  });

  it('prints the SQS raw JSON contender and the SDK/raw JSON ratio of each run', () => {
    const text = formatBrokerReport({
      broker: 'sqs',
      status: 'ok',
      conditions: [],
      rows: [
        {
          name: 'publish (msg/s)',
          json: [1_000, 2_000, 1_500],
          raw: [900, 900, 900],
          sdk: [900, 1_000, 1_400],
        },
      ],
    });
    const header = text.split('\n').find((l) => l.startsWith('| metric'))!;
    expect(header.replace(/ +/g, ' ')).toContain(
      '| metric | raw JSON | raw driver | SDK | SDK/raw JSON | SDK/raw | raw JSON runs | raw runs |',
    );
    const cells = text
      .split('\n')
      .find((l) => l.startsWith('| publish'))!
      .split('|')
      .map((c) => c.trim());
    // per run 0.90, 0.50, 0.93 → 0.90 (the ratio of the medians, 1 000 / 1 500, would be 0.67)
    expect(cells.slice(2, 7)).toEqual(['1 500', '900', '1 000', '0.90×', '1.11×']);
    expect(cells[7]).toBe('1 000, 2 000, 1 500');
  });

  it('has the raw SQS side send the attributes the adapter sends', () => {
    const message = {
      topic: 't',
      key: 'key-7',
      body: new Uint8Array([1, 2, 3, 4, 5]),
      headers: {
        ce_id: 'id-1',
        ce_type: 'omnibus.bench.event',
        ce_source: 'urn:x',
        'content-type': 'avro/binary',
      },
    };
    const adapter = encodeMessage(message, true);
    const raw = sqsFields(message, 'key-7');
    expect(raw.MessageBody).toBe(adapter.MessageBody);
    expect(raw.MessageAttributes).toEqual(adapter.MessageAttributes);
    expect(adapter.MessageGroupId).toBe('key-7');
  });

  it('parses the CLI and keeps helpers honest', () => {
    const cli = parseArgs(['--broker', 'kafka,codec', '--messages=500', '--runs', '5', '--quiet'], {
      KAFKA_URL: 'kafka://h:9092',
      AMQP_URL: 'amqp://u:p@h:5672',
    });
    expect(cli.targets).toEqual(['kafka', 'codec']);
    expect(cli.messages).toBe(500);
    expect(cli.runs).toBe(5);
    expect(cli.urls.kafka).toBe('kafka://h:9092');
    expect(cli.sqsMessages).toBe(500);
    const sqs = parseArgs(['--broker', 'sqs', '--quiet'], { SQS_URL: 'sqs://h:9324?region=eu-west-1' });
    expect(sqs.targets).toEqual(['sqs']);
    expect(sqs.urls.sqs).toBe('sqs://h:9324?region=eu-west-1');
    expect(sqs.messages).toBe(20_000);
    expect(sqs.sqsMessages).toBe(2_000);
    expect(parseArgs(['--broker', 'all', '--quiet'], {}).targets).toContain('sqs');
    expect(() => parseArgs(['--broker', 'nats'], {})).toThrow(/unknown --broker/);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(renderTable(['a', 'b'], [['x', '1']])).toContain('| x |');
  });

  it('keeps at most `window` operations outstanding', async () => {
    let outstanding = 0;
    let peak = 0;
    await runWindowed(40, 5, async () => {
      peak = Math.max(peak, ++outstanding);
      await new Promise((resolve) => setImmediate(resolve));
      outstanding--;
    });
    expect(peak).toBe(5);
    const clock = new ArrivalClock(3);
    clock.tick(2);
    clock.tick();
    await clock.done;
    expect(clock.rate()).toBeGreaterThan(0);
  });
});
