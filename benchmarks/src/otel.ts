import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Bus, createAdmin, createBus, redactUrl } from '@omnibus/core';
import { openTelemetry } from '@omnibus/core/opentelemetry';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type ReadableSpan, TracerProvider } from '@opentelemetry/sdk-trace';
import { benchContract, sizedPayload } from './payload.ts';
import { sdkConsume, sdkPublish } from './sdk.ts';
import { formatRate, formatRatio, median, runId } from './stats.ts';

/**
 * What the bus runs with: no middleware; `openTelemetry()` with `@opentelemetry/api` present and nothing
 * registered (what a user gets before configuring an SDK); `openTelemetry()` with an SDK tracer and meter
 * provider registered globally (spans batched to an exporter that drops them, metrics aggregated).
 */
export const OTEL_VARIANTS = ['no middleware', 'openTelemetry(), no SDK', 'openTelemetry() + SDK'] as const;
export type OtelVariant = (typeof OTEL_VARIANTS)[number];

export interface OtelSettings {
  messages: number;
  runs: number;
  size: number;
  inFlight: number;
  concurrency: number;
  timeoutMs: number;
  /** Broker under the buses. @default a fresh memory:// broker per bus */
  url?: string;
  log?: (line: string) => void;
}

export interface OtelRow {
  metric: 'publish' | 'publish N, then consume N';
  variant: OtelVariant;
  /** msg/s per run. */
  rates: number[];
  /** Process CPU (user + system) per event, µs, per run. */
  cpu: number[];
}

export interface OtelReport {
  status: 'ok' | 'failed';
  note?: string;
  conditions: string[];
  rows: OtelRow[];
  /** Spans the SDK variant exported per run (send + process: 2 × messages when every event was traced). */
  spansPerRun: number[];
}

/** A span exporter that counts and drops: the SDK's recording cost without any I/O. */
class CountingExporter {
  count = 0;
  export(spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    this.count += spans.length;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

interface Sdk {
  exporter: CountingExporter;
  shutdown(): Promise<void>;
}

/** Registers an SDK tracer provider, meter provider and context manager as an application would. */
function registerSdk(): Sdk {
  const exporter = new CountingExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  context.setGlobalContextManager(contextManager);
  return {
    exporter,
    async shutdown() {
      await tracerProvider.forceFlush();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      context.disable();
    },
  };
}

// A full collection before each measurement: the garbage of the previous variant (the SDK's spans above
// all) is not collected on the next one's time.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const cpuMicros = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};

/**
 * The three variants alternate within each run (run r starts with variant r mod 3), each on a bus and
 * topic of its own, so that load on the machine spreads over all three.
 */
export async function runOtel(o: OtelSettings): Promise<OtelReport> {
  const id = runId();
  const rows: OtelRow[] = [];
  for (const metric of ['publish', 'publish N, then consume N'] as const)
    for (const variant of OTEL_VARIANTS) rows.push({ metric, variant, rates: [], cpu: [] });
  const row = (metric: OtelRow['metric'], variant: OtelVariant) =>
    rows.find((r) => r.metric === metric && r.variant === variant)!;
  const spansPerRun: number[] = [];
  const payload = sizedPayload(o.size);
  const settings = { inFlight: o.inFlight, concurrency: o.concurrency, timeoutMs: o.timeoutMs };
  const group = 'bench';
  const created: string[] = [];
  try {
    // Run -1 warms every variant's code up (JIT), unrecorded: otherwise the first variant of run 0 pays it.
    for (let r = -1; r < o.runs; r++) {
      const warmUp = r < 0;
      const count = warmUp ? Math.min(o.messages, 2_000) : o.messages;
      for (let k = 0; k < OTEL_VARIANTS.length; k++) {
        const variant = OTEL_VARIANTS[(r + 1 + k) % OTEL_VARIANTS.length]!;
        const sdk = variant === 'openTelemetry() + SDK' ? registerSdk() : undefined;
        let bus: Bus | undefined;
        try {
          bus = await createBus({
            url: o.url ?? `memory://omnibus-bench-otel-${id}-${r}-${k}`,
            source: 'urn:omnibus:bench',
            middleware: variant === 'no middleware' ? [] : [openTelemetry()],
          });
          const contract = benchContract(`omnibus-bench-otel-${id}-${r}-${k}`);
          created.push(contract.topic);
          await bus.provision(contract, { groups: [group] });
          collectGarbage();
          let cpu = process.cpuUsage();
          const published = await sdkPublish(bus, contract, payload, count, settings);
          const publishCpu = cpuMicros(cpu) / count;
          collectGarbage();
          cpu = process.cpuUsage();
          const consumed = await sdkConsume(bus, contract, group, count, settings);
          const consumeCpu = cpuMicros(cpu) / count;
          if (!warmUp) {
            row('publish', variant).rates.push(published);
            row('publish', variant).cpu.push(publishCpu);
            row('publish N, then consume N', variant).rates.push(consumed);
            row('publish N, then consume N', variant).cpu.push(consumeCpu);
          }
        } finally {
          await bus?.close();
          if (sdk) {
            await sdk.shutdown();
            if (!warmUp) spansPerRun.push(sdk.exporter.count);
          }
        }
      }
      o.log?.(warmUp ? 'otel warm-up done' : `otel run ${r + 1}/${o.runs} done`);
    }
  } catch (error) {
    return {
      status: 'failed',
      note: `otel benchmark failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      conditions: [],
      rows,
      spansPerRun,
    };
  } finally {
    if (o.url && !o.url.startsWith('memory:')) await deleteTopics(o.url, created, group);
  }
  return {
    status: 'ok',
    conditions: [
      `broker: ${o.url ? redactUrl(o.url) : 'memory:// (a fresh in-process broker per bus)'}; ${o.messages} messages per run and metric, ${o.size} B body, median of ${o.runs} runs after an unrecorded warm-up run; the three variants alternate in each run (run r starts with the r-th), fresh bus and topic each, a full garbage collection before each measurement`,
      `SDK publishes in flight ${o.inFlight}; subscription concurrency ${o.concurrency}, maxAttempts 1`,
      'openTelemetry(), no SDK: @opentelemetry/api loaded, no tracer or meter provider, no context manager registered',
      `openTelemetry() + SDK: global @opentelemetry/sdk-trace TracerProvider (BatchSpanProcessor, exporter that drops), @opentelemetry/sdk-metrics MeterProvider (cumulative reader, collected hourly), AsyncLocalStorageContextManager; spans exported per run: ${spansPerRun.join(', ') || '—'}`,
      'CPU µs/event: process.cpuUsage() (user + system, the whole process: in-process broker included on memory://) over the metric, divided by N',
    ],
    rows,
    spansPerRun,
  };
}

async function deleteTopics(url: string, topics: string[], group: string): Promise<void> {
  try {
    const admin = await createAdmin(url);
    try {
      for (const topic of topics) {
        await admin.deleteTopic(topic, [group]).catch(() => {});
        await admin.deleteTopic(`${topic}.dlq`, ['dead-letters']).catch(() => {});
      }
    } finally {
      await admin.close?.();
    }
  } catch {
    // Best effort: a broker that went away keeps a few bench topics.
  }
}

/** The table: per metric, each variant's median msg/s, its ratio to no middleware, median CPU per event and every run. */
export function formatOtelReport(report: OtelReport): string {
  const title = '## otel (overhead of @omnibus/core/opentelemetry)';
  if (report.status !== 'ok') return `${title}\n${report.note}`;
  const header = [
    'metric',
    'variant',
    'msg/s',
    'vs none (median of per-run ratios)',
    'CPU µs/event',
    'runs (msg/s)',
  ];
  const lines = report.rows.map((row) => {
    const base = report.rows.find((r) => r.metric === row.metric && r.variant === 'no middleware')!;
    // Ratio of each run to the no-middleware measurement of the same run, then the median: the variants of
    // one run ran within seconds of each other, so drift in the machine's load cancels out.
    const ratios = row.rates.map((rate, run) => rate / base.rates[run]!);
    return [
      row.metric,
      row.variant,
      formatRate(median(row.rates)),
      formatRatio(median(ratios), 1),
      median(row.cpu).toFixed(1),
      row.rates.map((v) => formatRate(v)).join(', '),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [
    title,
    ...report.conditions.map((c) => `- ${c}`),
    '',
    render(header),
    rule,
    ...lines.map(render),
  ].join('\n');
}
