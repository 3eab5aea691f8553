import type { CaseResult, ConformanceReport } from './runner.ts';

/** One case as a table row; `run` prefixes the name when the suite repeats. */
export function tableRow(r: CaseResult, run?: number): string {
  const capability = r.capability.length ? r.capability.join(',') : '-';
  const reason = [r.error ?? r.skippedBecause, ...(r.notes ?? [])].filter(Boolean).join('; ');
  const name = run === undefined ? r.name : `#${run} ${r.name}`;
  return `| ${name.padEnd(34)} | ${capability.padEnd(26)} | ${r.status.padEnd(7)} | ${`${(r.durationMs / 1000).toFixed(1)}s`.padStart(6)} | ${reason.replaceAll('\n', ' ')} |`;
}

export function formatTable(report: ConformanceReport): string {
  const header = [
    `omnibus conformance — adapter ${report.adapter} at ${report.broker}`,
    `| ${'case'.padEnd(34)} | ${'capability'.padEnd(26)} | result  |   time | reason |`,
    `|${'-'.repeat(36)}|${'-'.repeat(28)}|---------|--------|--------|`,
  ];
  return [...header, ...report.cases.map((r) => tableRow(r)), '', summaryLine(report)].join('\n');
}

/**
 * The closing line CI reads: `N passed, N failed, N skipped`; with `--repeat`, preceded by one line per run
 * saying which runs failed and in which cases.
 */
export function summaryLine(report: ConformanceReport): string {
  const { passed, failed, skipped } = report.summary;
  const runs = (report.runs ?? []).map(
    (r) =>
      `run ${r.run}: ${r.failed === 0 ? 'passed' : `FAILED (${r.failedCases.join(', ')})`} — ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`,
  );
  return [...runs, `${passed} passed, ${failed} failed, ${skipped} skipped`].join('\n');
}

export function formatJunit(report: ConformanceReport): string {
  const esc = (s: string) =>
    s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
  const cases = report.cases.map((r) => {
    const inner =
      r.status === 'failed'
        ? `<failure message="${esc(r.error ?? '')}"/>`
        : r.status === 'skipped'
          ? `<skipped message="${esc(r.skippedBecause ?? '')}"/>`
          : '';
    return `  <testcase classname="conformance.${esc(report.adapter)}" name="${esc(r.name)}" time="${(r.durationMs / 1000).toFixed(3)}">${inner}</testcase>`;
  });
  const { passed, failed, skipped } = report.summary;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="omnibus conformance (${esc(report.adapter)})" tests="${passed + failed + skipped}" failures="${failed}" skipped="${skipped}">`,
    ...cases,
    '</testsuite>',
    '',
  ].join('\n');
}
