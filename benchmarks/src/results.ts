import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { CliOptions } from './args.ts';

const require = createRequire(import.meta.url);
/** Resolves what the Kafka adapter depends on (its publishing client is not a dependency of the benchmarks). */
const kafkaAdapterRequire = createRequire(new URL('../../adapters/kafka/package.json', import.meta.url));

/** The version of an installed package (from its package.json), or 'unknown'. */
export function packageVersion(name: string, from: NodeJS.Require = require): string {
  try {
    // Some packages do not export their package.json: walk up from the entry point.
    let dir = dirname(from.resolve(name));
    for (;;) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (json.name === name && json.version) return json.version;
      }
      const up = dirname(dir);
      if (up === dir) return 'unknown';
      dir = up;
    }
  } catch {
    return 'unknown';
  }
}

/** Versions of the runtime and of every driver the tables compare. */
export function versionLines(): string[] {
  const drivers = ['kafkajs', 'amqplib', 'ioredis', '@aws-sdk/client-sqs', 'zod'];
  const platformatic = `@platformatic/kafka ${packageVersion('@platformatic/kafka', kafkaAdapterRequire)}`;
  return [`drivers: ${[...drivers.map((d) => `${d} ${packageVersion(d)}`), platformatic].join(', ')}`];
}

export interface ResultsInput {
  command: string;
  startedAt: Date;
  environment: string[];
  settings: CliOptions;
  note?: string;
  /** Everything the run printed after its header. */
  body: string;
}

/** benchmarks/RESULTS.md: command, versions, settings, machine, then the tables as printed. */
export function resultsMarkdown(input: ResultsInput): string {
  const s = input.settings;
  const finished = new Date();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return [
    '# Benchmark results',
    '',
    'Written by `pnpm bench --results`; regenerate it on your machine rather than comparing absolute figures',
    'across machines. Every ratio is the median of per-run ratios from contenders alternating in one process.',
    '',
    `- command: \`${input.command}\``,
    `- run: ${input.startedAt.toISOString()} → ${finished.toISOString()}`,
    ...input.environment.map((line) => `- ${line}`),
    `- machine: ${availableParallelism()} cores (${cpus()[0]?.model?.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load average at the end ${load}`,
    ...(input.note ? [`- note: ${input.note}`] : []),
    `- settings: ${s.messages} events per run (sqs ${s.sqsMessages ?? s.messages}, rss ${s.rssMessages}, rss-kafka ${s.rssKafkaMessages}), ${s.runs} runs, body ${s.size} B (e2e/latency ${s.e2eSize} B), in-flight ${s.inFlight}, raw batch ${s.batch}, concurrency ${s.concurrency}, e2e/latency prefetch ${s.prefetch}, Kafka acks=-1 idempotent (ceiling: ProducerPerformance, ${s.ceilingRecords || s.messages} records per run), RabbitMQ publisher confirms; latency ${s.rate} ev/s × ${s.latencySeconds} s per segment${s.quick ? '; QUICK mode (small N, figures indicative only)' : ''}`,
    '',
    input.body,
    '',
  ].join('\n');
}
