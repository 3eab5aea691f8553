#!/usr/bin/env node
/**
 * pnpm conformance <broker-url> [--reporter table|json|junit] [--out FILE] [--only NAME[,NAME]] [--adapter PACKAGE]
 * Prints a table (or JSON / JUnit) and ends with `N passed, N failed, N skipped`. Exit 0 only if none failed.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OmnibusError } from '@omnibus/core';
import { formatJunit, formatTable, summaryLine, tableRow } from './report.ts';
import { runConformance } from './runner.ts';

const usage =
  'usage: pnpm conformance <broker-url> [--reporter table|json|junit] [--out FILE] [--only NAME[,NAME]]';

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
  if (!url || !['table', 'json', 'junit'].includes(reporter)) {
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
    onResult: live ? (r) => console.log(tableRow(r)) : undefined,
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

function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      reporter: { type: 'string' },
      out: { type: 'string' },
      only: { type: 'string' },
      adapter: { type: 'string' },
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
