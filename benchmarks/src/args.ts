import { existsSync, readFileSync } from 'node:fs';
import { type BenchOptions, BROKER_KINDS, type BrokerKind, SQS_DEFAULT_MESSAGES } from './harness.ts';

export type Target = BrokerKind | 'codec' | 'otel' | 'e2e' | 'latency' | 'rss' | 'rss-kafka';

/** What `--broker all` (and no --broker) runs, in this order; kafka, amqp and redis are covered by e2e. */
export const ALL_TARGETS: readonly Target[] = [
  'e2e',
  'latency',
  'sqs',
  'memory',
  'rss',
  'rss-kafka',
  'codec',
];
const NAMED: readonly string[] = [...BROKER_KINDS, 'codec', 'otel', 'e2e', 'latency', 'rss', 'rss-kafka'];

export interface CliOptions extends BenchOptions {
  targets: Target[];
  /** Broker of the otel target. @default memory:// */
  otelUrl?: string;
  /** Body size of the e2e and latency targets: `--size` when given, else ~1 KiB. */
  e2eSize: number;
  /** Prefetch of the e2e and latency consumers (raw per queue; omnibus subscription prefetch). */
  prefetch: number;
  /** Events/s offered by the latency target. */
  rate: number;
  /** Seconds per latency segment (one per contender per run). */
  latencySeconds: number;
  /** Events of the rss target: `--messages` when given, else 200000. */
  rssMessages: number;
  /** Records per Kafka ceiling run; 0 = the e2e N. */
  ceilingRecords: number;
  /** Events of the rss-kafka target: `--messages` when given, else 1000000. */
  rssKafkaMessages: number;
  /** Small N everywhere, for CI: every row, figures not asserted. */
  quick: boolean;
  /** Write benchmarks/RESULTS.md with everything printed. */
  results: boolean;
  /** A line for RESULTS.md about the machine (e.g. "shared with other jobs"). */
  note?: string;
}

export const USAGE = `pnpm bench [options]

  --broker kafka|amqp|redis|sqs|memory|codec|otel|e2e|latency|rss|rss-kafka|all
                   what to run; repeat or comma-separate (default: all =
                   e2e,latency,sqs,memory,rss,rss-kafka,codec)
                   e2e: Kafka, RabbitMQ, Redis: raw JSON vs raw omnibus bytes vs
                   omnibus: publish, consume, end-to-end ev/s + CPU µs/event;
                   Kafka also runs its ProducerPerformance as the ceiling
                   latency: p50/p99 at a fixed rate, raw JSON vs omnibus
                   sqs: raw JSON vs raw omnibus bytes vs omnibus on ElasticMQ
                   rss: RSS and heap after GC over a long memory:// run
                   rss-kafka: the same through Kafka (1M events)
  --otel-url URL   broker of --broker otel               (default memory://)
  --messages N     events per run and metric            (default 20000; sqs 2000)
  --runs R         runs per metric, median reported     (default 3)
  --size BYTES     encoded Avro body size               (default 256)
  --in-flight N    SDK publishes kept outstanding       (default 1000)
  --batch N        raw kafkajs messages per sendBatch,
                   raw ioredis XADDs per pipeline       (default 1000; SQS batches are always 10)
  --concurrency N  SDK subscription concurrency         (default 16)
  --codec-ops N    operations per codec sample          (default 100000)
  --timeout MS     give up on one publish/consume run   (default 120000)
  --prefetch N     e2e/latency consumer prefetch        (default 256)
  --rate N         latency: events/s offered            (default 1000)
  --latency-seconds S  latency: seconds per segment      (default 3; 2 × runs segments)
  --ceiling-records N  records per Kafka ceiling run      (default: 200000; --quick: the e2e N)
  --quick          small N for every table (CI; < 60 s on local brokers)
  --results        also write benchmarks/RESULTS.md
  --note TEXT      a line about the machine for RESULTS.md
  --quiet          no progress lines on stderr

e2e and latency use --size if given, else a ~1 KiB body; rss uses --messages if given, else 200000;
rss-kafka --messages if given, else 1000000. The Kafka ceiling needs java (and mvn once, to fetch
kafka-tools into $OMNIBUS_CACHE or ~/.cache/omnibus); without them it prints why and the rest runs.

Broker URLs: KAFKA_URL / AMQP_URL / REDIS_URL / SQS_URL, else .brokers/brokers.env (pnpm brokers:up), else 127.0.0.1 defaults.`;

const DEFAULTS = {
  messages: 20_000,
  runs: 3,
  size: 256,
  inFlight: 1_000,
  batch: 1_000,
  concurrency: 16,
  codecOps: 100_000,
  timeoutMs: 120_000,
  prefetch: 256,
  rate: 1_000,
  latencySeconds: 3,
  /**
   * ProducerPerformance starts a cold JVM per run: at 20 000 records its JIT warm-up and producer start-up
   * weigh so much that it came out below kafkajs. 200 000 records (~5 s) measure the client warm.
   */
  ceilingRecords: 200_000,
};

/** `--quick`: every table with small N (flags given explicitly still win). */
const QUICK = {
  messages: 300,
  runs: 1,
  codecOps: 2_000,
  latencySeconds: 1,
  rss: 20_000,
  rssKafka: 2_000,
  sqs: 100,
};

const NUMERIC: Record<string, keyof typeof DEFAULTS> = {
  '--messages': 'messages',
  '--runs': 'runs',
  '--size': 'size',
  '--in-flight': 'inFlight',
  '--batch': 'batch',
  '--concurrency': 'concurrency',
  '--codec-ops': 'codecOps',
  '--timeout': 'timeoutMs',
  '--prefetch': 'prefetch',
  '--rate': 'rate',
  '--latency-seconds': 'latencySeconds',
  '--ceiling-records': 'ceilingRecords',
};

export class UsageError extends Error {}

/** Reads KEY=value lines of `.brokers/brokers.env` (written by `pnpm brokers:up`). */
function brokersEnv(): Record<string, string> {
  const file = new URL('../../.brokers/brokers.env', import.meta.url);
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([A-Z_]+)=(.*)$/.exec(line);
    if (match) out[match[1]!] = match[2]!.trim();
  }
  return out;
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  const numbers = { ...DEFAULTS };
  const targets = new Set<Target>();
  let quiet = false;
  let quick = false;
  let results = false;
  let note: string | undefined;
  const given = new Set<string>();
  let otelUrl: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (flag === '--') continue;
    if (flag === '--quiet' || flag === '--quick' || flag === '--results') {
      if (flag === '--quiet') quiet = true;
      if (flag === '--quick') quick = true;
      if (flag === '--results') results = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag === '--otel-url') {
      otelUrl = value;
      continue;
    }
    if (flag === '--note') {
      note = value;
      continue;
    }
    if (flag === '--broker' || flag === '--brokers') {
      for (const name of value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        if (name === 'all') for (const t of ALL_TARGETS) targets.add(t);
        else if (name === 'rabbitmq') targets.add('amqp');
        else if (NAMED.includes(name)) targets.add(name as Target);
        else
          throw new UsageError(
            `unknown --broker ${name} (kafka, amqp, redis, sqs, memory, codec, otel, e2e, latency, rss, rss-kafka or all)`,
          );
      }
      continue;
    }
    const key = NUMERIC[flag];
    if (!key) throw new UsageError(`unknown option ${flag}`);
    const n = Number(value);
    if (!Number.isInteger(n) || n < (key === 'size' || key === 'ceilingRecords' ? 0 : 1))
      throw new UsageError(`${flag} must be a positive integer, got ${value}`);
    numbers[key] = n;
    given.add(key);
  }
  if (quick) {
    for (const key of ['messages', 'runs', 'codecOps', 'latencySeconds'] as const)
      if (!given.has(key)) numbers[key] = QUICK[key];
    if (!given.has('ceilingRecords')) numbers.ceilingRecords = 0;
  }
  const messagesGiven = given.has('messages');
  const file = brokersEnv();
  const options: CliOptions = {
    ...numbers,
    sqsMessages: messagesGiven ? numbers.messages : quick ? QUICK.sqs : SQS_DEFAULT_MESSAGES,
    e2eSize: given.has('size') ? numbers.size : 1_024,
    rssMessages: messagesGiven ? numbers.messages : quick ? QUICK.rss : 200_000,
    rssKafkaMessages: messagesGiven ? numbers.messages : quick ? QUICK.rssKafka : 1_000_000,
    quick,
    results,
    ...(note === undefined ? {} : { note }),
    targets: targets.size > 0 ? [...targets] : [...ALL_TARGETS],
    ...(otelUrl === undefined ? {} : { otelUrl }),
    urls: {
      kafka: env.KAFKA_URL ?? file.KAFKA_URL ?? 'kafka://127.0.0.1:9092',
      amqp: env.AMQP_URL ?? file.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
      redis: env.REDIS_URL ?? file.REDIS_URL ?? 'redis://127.0.0.1:6379',
      sqs: env.SQS_URL ?? file.SQS_URL ?? 'sqs://127.0.0.1:9324?region=us-east-1',
    },
  };
  if (!quiet) options.log = (line) => process.stderr.write(`  … ${line}\n`);
  return options;
}
