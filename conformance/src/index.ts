export { allCases } from './cases/index.ts';
export {
  CaseContext,
  type ConformanceCase,
  ConformanceFailure,
  check,
  Ledger,
  testContract,
} from './harness.ts';
export { formatJunit, formatTable, summaryLine } from './report.ts';
export { type CaseResult, type ConformanceReport, runCase, runConformance } from './runner.ts';
