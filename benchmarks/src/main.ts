import { parseArgs, USAGE, UsageError } from './args.ts';
import { environmentLines, formatBrokerReport, formatCodecReport, runBroker, runCodec } from './harness.ts';
import { formatOtelReport, runOtel } from './otel.ts';

// kafkajs v2 warns about its partitioner change on every producer; both sides pick it explicitly.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
// kafkajs 2.2.4 arms timers with negative delays on Node ≥ 23 (harmless: Node uses 1 ms); keep every
// other warning.
const warningListeners = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'TimeoutNegativeWarning') return;
  for (const listener of warningListeners) listener(warning);
});

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  console.log(`# omnibus benchmarks — ${new Date().toISOString()}`);
  console.log(`- ${environmentLines().join('\n- ')}`);
  console.log(`- command: pnpm bench ${argv.join(' ')}`.trimEnd());
  let failed = false;
  for (const target of options.targets) {
    console.log('');
    if (target === 'codec') {
      options.log?.('codec micro-benchmark');
      console.log(
        formatCodecReport(await runCodec(options.size, options.codecOps, options.runs), options.size),
      );
      continue;
    }
    if (target === 'otel') {
      options.log?.(`otel: ${options.runs} runs × 3 variants × ${options.messages} messages`);
      const report = await runOtel({ ...options, url: options.otelUrl });
      if (report.status === 'failed') failed = true;
      console.log(formatOtelReport(report));
      continue;
    }
    const messages = target === 'sqs' ? (options.sqsMessages ?? options.messages) : options.messages;
    options.log?.(`${target}: ${options.runs} runs × ${messages} messages`);
    const report = await runBroker(target, options);
    if (report.status === 'failed') failed = true;
    console.log(formatBrokerReport(report));
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
