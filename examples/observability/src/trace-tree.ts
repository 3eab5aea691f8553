import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/** One line per span, indented under its parent: what a trace viewer would show. */
export function traceTree(spans: ReadableSpan[]): string[] {
  const lines: string[] = [];
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const children = (parent: string | undefined) =>
    spans
      .filter((s) => {
        const parentId = s.parentSpanContext?.spanId;
        return parent === undefined ? parentId === undefined || !ids.has(parentId) : parentId === parent;
      })
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
  const walk = (span: ReadableSpan, depth: number) => {
    const a = span.attributes;
    const detail =
      span.kind === SpanKind.CONSUMER
        ? `consumer, group ${a['messaging.consumer.group.name']}, attempt ${a['omnibus.attempt']}, ${a['omnibus.outcome']}`
        : 'producer';
    lines.push(`${'  '.repeat(depth)}${span.name} (${detail})`);
    for (const child of children(span.spanContext().spanId)) walk(child, depth + 1);
  };
  for (const root of children(undefined)) walk(root, 0);
  return lines;
}
