import { type E2eReport, PHASES, VARIANTS } from './e2e.ts';
import { renderTable } from './harness.ts';
import { LATENCY_VARIANTS, type LatencyReport } from './latency.ts';
import type { RssReport } from './rss.ts';
import { formatRate, median } from './stats.ts';

const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '—');

/** Median of per-run ratios a[i]/b[i]: the runs are paired (same run, alternating order). */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) if (b[i]! > 0) ratios.push(a[i]! / b[i]!);
  return median(ratios);
}

/** The end-to-end table: ev/s and CPU µs/event of the three contenders, and omnibus's ratios. */
export function formatE2eReport(report: E2eReport): string {
  const title = `## ${report.broker}: raw JSON vs raw omnibus bytes vs omnibus`;
  if (report.status !== 'ok') return `${title}\n${report.note}`;
  const header = [
    'phase',
    ...VARIANTS.map((v) => `${v} ev/s`),
    'omnibus / raw JSON',
    'omnibus / raw bytes',
    ...VARIANTS.map((v) => `${v} CPU µs/ev`),
    'CPU omnibus / raw JSON',
  ];
  const rows = PHASES.map((phase) => {
    const s = report.samples[phase];
    const rates = (v: (typeof VARIANTS)[number]) => s[v].map((x) => x.rate);
    const cpu = (v: (typeof VARIANTS)[number]) => s[v].map((x) => x.cpuUs);
    return [
      phase,
      ...VARIANTS.map((v) => formatRate(median(rates(v)))),
      ratio(pairedRatio(rates('omnibus'), rates('raw JSON'))),
      ratio(pairedRatio(rates('omnibus'), rates('raw omnibus bytes'))),
      ...VARIANTS.map((v) => fixed(median(cpu(v)))),
      ratio(pairedRatio(cpu('omnibus'), cpu('raw JSON'))),
    ];
  });
  const runs = PHASES.map(
    (phase) =>
      `- runs (${phase}, ev/s): ${VARIANTS.map((v) => `${v} ${report.samples[phase][v].map((x) => formatRate(x.rate)).join(', ')}`).join('; ')}`,
  );
  const ceiling = report.ceiling ? ['', formatCeiling(report)] : [];
  return [
    title,
    ...report.conditions.map((c) => `- ${c}`),
    '',
    renderTable(header, rows),
    '',
    ...runs,
    ...ceiling,
  ].join('\n');
}

/** The Kafka ceiling: ProducerPerformance records/s against each contender's publish phase. */
function formatCeiling(report: E2eReport): string {
  const ceiling = report.ceiling!;
  const title = `### ${report.broker}: ceiling (Kafka's ProducerPerformance), publish only`;
  if (ceiling.note) return `${title}\n${ceiling.note}`;
  const rows = [
    ['ProducerPerformance (ceiling)', formatRate(median(ceiling.rates)), ratio(1), runsOf(ceiling.rates)],
    ...VARIANTS.map((v) => {
      const rates = report.samples.publish[v].map((x) => x.rate);
      return [v, formatRate(median(rates)), ratio(pairedRatio(rates, ceiling.rates)), runsOf(rates)];
    }),
  ];
  return [
    title,
    ...ceiling.conditions.map((c) => `- ${c}`),
    '',
    renderTable(['contender', 'publish ev/s', '/ ceiling', 'runs'], rows),
  ].join('\n');
}

const runsOf = (rates: number[]) => rates.map((r) => formatRate(r)).join(', ');

/** p50/p99 end-to-end latency at a fixed rate, raw JSON vs omnibus. */
export function formatLatencyReport(report: LatencyReport): string {
  const title = `## ${report.broker}: latency at a fixed rate`;
  if (report.status !== 'ok') return `${title}\n${report.note}`;
  const ms = (values: number[]) => fixed(median(values), 2);
  const rows: string[][] = LATENCY_VARIANTS.map((v) => {
    const s = report.samples[v];
    return [
      v,
      ms(s.map((x) => x.p50)),
      ms(s.map((x) => x.p99)),
      s.map((x) => fixed(x.p50, 2)).join(', '),
      s.map((x) => fixed(x.p99, 2)).join(', '),
    ];
  });
  const diff = (q: 'p50' | 'p99') => {
    const a = report.samples.omnibus.map((x) => x[q]);
    const b = report.samples['raw JSON'].map((x) => x[q]);
    return median(a.slice(0, b.length).map((x, i) => x - b[i]!));
  };
  rows.push([
    'omnibus − raw JSON (median of per-run differences)',
    fixed(diff('p50'), 2),
    fixed(diff('p99'), 2),
    '',
    '',
  ]);
  return [
    title,
    ...report.conditions.map((c) => `- ${c}`),
    '',
    renderTable(['contender', 'p50 ms', 'p99 ms', 'p50 runs', 'p99 runs'], rows),
  ].join('\n');
}

const mib = (bytes: number) => (bytes / 1_048_576).toFixed(1);

/** RSS and heap after GC over a long memory:// run. */
export function formatRssReport(report: RssReport): string {
  const title = `## ${report.label} RSS and heap after GC`;
  if (report.status !== 'ok') return `${title}\n${report.note}`;
  const s = report.samples;
  const rss = s.map((x) => x.rss);
  const heap = s.map((x) => x.heapAfterGc);
  // The first chunk warms up (JIT, pools): growth is judged from the first sample after it.
  const warm = s[Math.min(1, s.length - 1)]!;
  const last = s[s.length - 1]!;
  const summary: string[][] = [
    [
      'RSS MiB',
      mib(rss[0]!),
      mib(warm.rss),
      mib(last.rss),
      mib(Math.max(...rss)),
      ratio(last.rss / warm.rss),
    ],
    [
      'heap after GC MiB',
      mib(heap[0]!),
      mib(warm.heapAfterGc),
      mib(last.heapAfterGc),
      mib(Math.max(...heap)),
      ratio(last.heapAfterGc / warm.heapAfterGc),
    ],
  ];
  return [
    title,
    ...report.conditions.map((c) => `- ${c}`),
    '',
    renderTable(['measure', 'start', 'after chunk 1', 'end', 'max', 'end / after chunk 1'], summary),
    '',
    renderTable(
      ['events', 'RSS MiB', 'heap after GC MiB', 'ArrayBuffers after GC MiB'],
      s.map((x) => [formatRate(x.events), mib(x.rss), mib(x.heapAfterGc), mib(x.arrayBuffers)]),
    ),
  ].join('\n');
}
