import { existsSync, readFileSync } from 'node:fs';
import { type BenchOptions, BROKER_KINDS, type BrokerKind, SQS_DEFAULT_MESSAGES } from './harness.ts';

export type Target = BrokerKind | 'codec' | 'otel';

export interface CliOptions extends BenchOptions {
  targets: Target[];
  /** Broker of the otel target. @default memory:// */
  otelUrl?: string;
}

export const USAGE = `pnpm bench [options]

  --broker kafka|amqp|redis|sqs|memory|codec|otel|all
                   what to run; repeat or comma-separate (default: all = all but otel)
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
  --quiet          no progress lines on stderr

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
  let messagesGiven = false;
  let otelUrl: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (flag === '--') continue;
    if (flag === '--quiet') {
      quiet = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag === '--otel-url') {
      otelUrl = value;
      continue;
    }
    if (flag === '--broker' || flag === '--brokers') {
      for (const name of value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        if (name === 'all') for (const t of [...BROKER_KINDS, 'codec'] as Target[]) targets.add(t);
        else if (name === 'rabbitmq') targets.add('amqp');
        else if ((BROKER_KINDS as readonly string[]).includes(name) || name === 'codec' || name === 'otel')
          targets.add(name as Target);
        else
          throw new UsageError(
            `unknown --broker ${name} (kafka, amqp, redis, sqs, memory, codec, otel or all)`,
          );
      }
      continue;
    }
    const key = NUMERIC[flag];
    if (!key) throw new UsageError(`unknown option ${flag}`);
    const n = Number(value);
    if (!Number.isInteger(n) || n < (key === 'size' ? 0 : 1))
      throw new UsageError(`${flag} must be a positive integer, got ${value}`);
    numbers[key] = n;
    if (key === 'messages') messagesGiven = true;
  }
  const file = brokersEnv();
  const options: CliOptions = {
    ...numbers,
    sqsMessages: messagesGiven ? numbers.messages : SQS_DEFAULT_MESSAGES,
    targets: targets.size > 0 ? [...targets] : [...BROKER_KINDS, 'codec'],
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
