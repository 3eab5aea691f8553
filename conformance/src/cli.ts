#!/usr/bin/env node
/**
 * pnpm conformance <broker-url> [--reporter table|json|junit] [--out FILE] [--only NAME[,NAME]]
 *   [--adapter PACKAGE] [--restart-command "CMD"] [--repeat N] [--idempotency-store URL]
 * Prints a table (or JSON / JUnit) and ends with `N passed, N failed, N skipped`. Exit 0 only if none failed.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Logger, OmnibusError } from '@omnibus/core';
import { formatJunit, formatTable, summaryLine, tableRow } from './report.ts';
import { runConformance } from './runner.ts';

const usage = [
  'usage: pnpm conformance <broker-url> [options]',
  '  --reporter table|json|junit   output format (default table)',
  '  --out FILE                    write the report to FILE',
  '  --only NAME[,NAME]            run the cases whose name contains one of these',
  '  --adapter PACKAGE             load a third-party adapter package for the URL scheme',
  '  --restart-command "CMD"       shell command that restarts the broker; enables broker-restart',
  '  --repeat N                    run the suite N times (flakiness hunting)',
  '  --idempotency-store URL       shared idempotency store for the idempotency cases (e.g. redis://…)',
  "  --log-level LEVEL             print the buses' and drivers' logs at LEVEL and above to stderr",
  '                                (error|warn|info|debug; default: none)',
].join('\n');

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const url = positionals[0] ?? process.env.BROKER_URL;
  const reporter = values.reporter ?? 'table';
  const repeat = Number(values.repeat ?? 1);
  const logLevel = values['log-level'];
  if (
    !url ||
    !['table', 'json', 'junit'].includes(reporter) ||
    !Number.isInteger(repeat) ||
    repeat < 1 ||
    (logLevel !== undefined && !(logLevel in LEVELS))
  ) {
    console.error(usage);
    return 2;
  }
  if (values.adapter) {
    // Through the environment, so the crash case's child processes load it too.
    const scheme = url.split(':')[0];
    process.env.OMNIBUS_ADAPTERS = [process.env.OMNIBUS_ADAPTERS, `${scheme}=${values.adapter}`]
      .filter(Boolean)
      .join(',');
  }
  const live = reporter === 'table' && !values.out;
  const report = await runConformance(url, {
    only: values.only?.split(','),
    repeat,
    restartCommand: values['restart-command'],
    idempotencyStore: values['idempotency-store'],
    ...(logLevel && { logger: stderrLogger(LEVELS[logLevel as keyof typeof LEVELS]) }),
    onResult: live ? (r, run) => console.log(tableRow(r, repeat > 1 ? run : undefined)) : undefined,
  });
  const output =
    reporter === 'json'
      ? `${JSON.stringify(report, null, 2)}\n`
      : reporter === 'junit'
        ? formatJunit(report)
        : `${formatTable(report)}\n`;
  if (values.out) {
    writeFileSync(values.out, output);
    console.log(`${reporter} report written to ${values.out}`);
  } else if (!live) {
    process.stdout.write(output);
  }
  if (live || values.out) console.log(`\n${summaryLine(report)}`);
  return report.summary.failed === 0 ? 0 : 1;
}

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;

/** The CLI is an application: it may print the logs the library hands it, when asked to. */
function stderrLogger(threshold: number): Logger {
  const at =
    (level: keyof typeof LEVELS) =>
    (fields: Record<string, unknown>, message: string): void => {
      if (LEVELS[level] > threshold) return;
      const context = Object.entries(fields)
        .filter(([name]) => name !== 'err')
        .map(([name, value]) => `${name}=${String(value)}`)
        .join(' ');
      console.error(`${level.padEnd(5)} ${message}${context ? ` (${context})` : ''}`);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      reporter: { type: 'string' },
      out: { type: 'string' },
      only: { type: 'string' },
      adapter: { type: 'string' },
      'restart-command': { type: 'string' },
      repeat: { type: 'string' },
      'idempotency-store': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
}

main().then(
  (code) => process.exit(code),
  (error) => {
    // Typed errors already say what to do and carry no credentials.
    console.error(error instanceof OmnibusError ? error.message : error);
    process.exit(2);
  },
);
