import type { CaseResult, ConformanceReport } from './runner.ts';

export function tableRow(r: CaseResult): string {
  const capability = r.capability.length ? r.capability.join(',') : '-';
  const reason = r.error ?? r.skippedBecause ?? '';
  return `| ${r.name.padEnd(34)} | ${capability.padEnd(26)} | ${r.status.padEnd(7)} | ${`${(r.durationMs / 1000).toFixed(1)}s`.padStart(6)} | ${reason.replaceAll('\n', ' ')} |`;
}

export function formatTable(report: ConformanceReport): string {
  const header = [
    `omnibus conformance — adapter ${report.adapter} at ${report.broker}`,
    `| ${'case'.padEnd(34)} | ${'capability'.padEnd(26)} | result  |   time | reason |`,
    `|${'-'.repeat(36)}|${'-'.repeat(28)}|---------|--------|--------|`,
  ];
  return [...header, ...report.cases.map(tableRow), '', summaryLine(report)].join('\n');
}

/** The closing line CI reads: `N passed, N failed, N skipped`. */
export function summaryLine(report: ConformanceReport): string {
  const { passed, failed, skipped } = report.summary;
  return `${passed} passed, ${failed} failed, ${skipped} skipped`;
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
