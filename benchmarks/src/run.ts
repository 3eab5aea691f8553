import type { CliOptions } from './args.ts';
import { E2E_BROKERS, runE2e } from './e2e.ts';
import { formatBrokerReport, formatCodecReport, runBroker, runCodec } from './harness.ts';
import { runLatency } from './latency.ts';
import { formatOtelReport, runOtel } from './otel.ts';
import { runRss } from './rss.ts';
import { formatE2eReport, formatLatencyReport, formatRssReport } from './tables.ts';

/** Runs every target of `options` in order, printing each table; resolves true when one failed. */
export async function runTargets(options: CliOptions, print: (text: string) => void): Promise<boolean> {
  let failed = false;
  const e2e = {
    ...options,
    size: options.e2eSize,
    urls: { kafka: options.urls.kafka, amqp: options.urls.amqp, redis: options.urls.redis },
    // CI's quick mode runs the Kafka ceiling only when its jars are already cached.
    fetchKafkaTools: !options.quick,
  };
  for (const target of options.targets) {
    print('');
    if (target === 'codec') {
      options.log?.('codec micro-benchmark');
      print(formatCodecReport(await runCodec(options.size, options.codecOps, options.runs), options.size));
      continue;
    }
    if (target === 'otel') {
      options.log?.(`otel: ${options.runs} runs × 3 variants × ${options.messages} messages`);
      const report = await runOtel({ ...options, url: options.otelUrl });
      if (report.status === 'failed') failed = true;
      print(formatOtelReport(report));
      continue;
    }
    if (target === 'e2e' || target === 'latency') {
      const sections: string[] = [];
      for (const broker of E2E_BROKERS) {
        options.log?.(`${broker} ${target}: ${options.runs} runs`);
        if (target === 'e2e') {
          const report = await runE2e(broker, e2e);
          if (report.status === 'failed') failed = true;
          sections.push(formatE2eReport(report));
        } else {
          const report = await runLatency(broker, {
            ...e2e,
            rate: options.rate,
            seconds: options.latencySeconds,
          });
          if (report.status === 'failed') failed = true;
          sections.push(formatLatencyReport(report));
        }
      }
      print(sections.join('\n\n'));
      continue;
    }
    if (target === 'rss' || target === 'rss-kafka') {
      const kafka = target === 'rss-kafka';
      const messages = kafka ? options.rssKafkaMessages : options.rssMessages;
      options.log?.(`${target}: ${messages} events on ${kafka ? 'Kafka' : 'memory://'}`);
      const report = await runRss({
        ...options,
        messages,
        ...(kafka ? { url: options.urls.kafka } : {}),
      });
      if (report.status === 'failed') failed = true;
      print(formatRssReport(report));
      continue;
    }
    const messages = target === 'sqs' ? (options.sqsMessages ?? options.messages) : options.messages;
    options.log?.(`${target}: ${options.runs} runs × ${messages} messages`);
    const report = await runBroker(target, options);
    if (report.status === 'failed') failed = true;
    print(formatBrokerReport(report));
  }
  return failed;
}
