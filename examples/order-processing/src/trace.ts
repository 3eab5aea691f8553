import { openTelemetry } from '@omnibus/core/opentelemetry';
import { context, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/**
 * An in-process OpenTelemetry SDK for `pnpm demo --trace`: spans stay in memory so the demo can print them
 * (a service would export them over OTLP instead). The context manager carries the handler's span into
 * what the handler publishes, so an order and its payment share one trace.
 */
export function startTracing() {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  return {
    middleware: openTelemetry({ tracerProvider, metrics: false }),
    spans: () => spans.getFinishedSpans(),
    async stop() {
      await tracerProvider.shutdown();
      context.disable();
    },
  };
}

/** The trace whose `send` span published event `eventId`, as an indented tree; empty if no span has it. */
export function orderTrace(spans: ReadableSpan[], eventId: string, label: string): string[] {
  const root = spans.find(
    (s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === eventId,
  );
  if (!root) return [];
  const traceId = root.spanContext().traceId;
  const mine = spans.filter((s) => s.spanContext().traceId === traceId);
  const byStart = (a: ReadableSpan, b: ReadableSpan) =>
    a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1];
  const lines = [`trace ${traceId} — ${label}, ${mine.length} spans:`];
  const walk = (span: ReadableSpan, depth: number, service: string) => {
    const a = span.attributes;
    const consumer = span.kind === SpanKind.CONSUMER;
    // A process span is its consumer group's (the service); a send span is whoever published.
    const who = consumer ? String(a['messaging.consumer.group.name']) : service;
    const ms = (span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(1);
    const outcome = consumer ? `, ${a['omnibus.outcome']}` : '';
    lines.push(`${'  '.repeat(depth + 1)}${span.name} — ${who}${outcome}, ${ms} ms`);
    const children = mine.filter((s) => s.parentSpanContext?.spanId === span.spanContext().spanId);
    for (const child of children.sort(byStart)) walk(child, depth + 1, who);
  };
  walk(root, 0, 'shop');
  return lines;
}
