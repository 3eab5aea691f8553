export { allCases } from './cases/index.ts';
export {
  CaseContext,
  type ConformanceCase,
  ConformanceFailure,
  check,
  Ledger,
  type SuiteOptions,
  testContract,
} from './harness.ts';
export { RunObserver } from './observe.ts';
export { formatJunit, formatTable, summaryLine } from './report.ts';
export {
  type CaseResult,
  type ConformanceReport,
  type RunOptions,
  runCase,
  runConformance,
  skipReason,
} from './runner.ts';
