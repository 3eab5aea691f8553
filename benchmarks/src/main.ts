import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, UsageError } from './args.ts';
import { environmentLines } from './harness.ts';
import { resultsMarkdown, versionLines } from './results.ts';
import { runTargets } from './run.ts';

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
  const printed: string[] = [];
  const print = (text: string) => {
    console.log(text);
    printed.push(text);
  };
  const command =
    `pnpm bench ${argv.map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`.trimEnd();
  const startedAt = new Date();
  const environment = [...environmentLines(), ...versionLines()];
  print(`# omnibus benchmarks — ${startedAt.toISOString()}`);
  print(`- ${environment.join('\n- ')}`);
  print(`- command: ${command}`);
  const failed = await runTargets(options, print);
  if (options.results) {
    const file = new URL('../RESULTS.md', import.meta.url);
    writeFileSync(
      file,
      resultsMarkdown({
        command,
        startedAt,
        environment,
        settings: options,
        note: options.note,
        body: printed.slice(3).join('\n'),
      }),
    );
    options.log?.(`wrote ${fileURLToPath(file)}`);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
