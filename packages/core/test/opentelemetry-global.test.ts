import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, expect, it } from 'vitest';
import { createBus, defineEvent } from '../src/index.ts';
import { METRICS, openTelemetry } from '../src/opentelemetry/index.ts';

// The global providers, as an application registers them — in a file of its own: they are process-wide.
const orderSchema = { type: 'record', name: 'Order', fields: [{ name: 'n', type: 'int' }] } as const;
const Order = defineEvent({ type: 'otel.global.order', version: 1, avro: orderSchema });
const Relayed = defineEvent({ type: 'otel.global.relayed', version: 1, avro: orderSchema });

const until = async (condition: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

afterEach(() => {
  trace.disable();
  metrics.disable();
  context.disable();
});

it('with no OpenTelemetry SDK registered the middleware stands aside: no trace headers, nothing per event', async () => {
  const middleware = openTelemetry();
  expect(middleware.enabled?.()).toBe(false);
  const bus = await createBus({ url: 'memory://otel-global-none', middleware: [middleware] });
  const headers: Record<string, string>[] = [];
  await bus.subscribe(Order, { group: 'g' }, (_order, ctx) => void headers.push(ctx.headers));
  await bus.publish(Order, { n: 1 });
  await until(() => headers.length === 1);
  expect(Object.keys(headers[0]!).filter((h) => !h.startsWith('ce_') && h !== 'content-type')).toEqual([]);
  await bus.close();
});

it('an SDK registered after the bus was created records from the next event on: spans and metrics', async () => {
  const bus = await createBus({ url: 'memory://otel-global-late', middleware: [openTelemetry()] });
  const traceparents: (string | undefined)[] = [];
  await bus.subscribe(
    Order,
    { group: 'g' },
    (_order, ctx) => void traceparents.push(ctx.headers.traceparent),
  );
  await bus.publish(Order, { n: 1 });
  await until(() => traceparents.length === 1);

  const spans = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(
    new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }),
  );
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

  await bus.publish(Order, { n: 2 });
  await until(() => spans.getFinishedSpans().length === 2);
  const [send, process] = ['send otel.global.order', 'process otel.global.order'].map(
    (name) => spans.getFinishedSpans().find((s) => s.name === name)!,
  );
  expect(process!.parentSpanContext?.spanId).toBe(send!.spanContext().spanId);
  expect(traceparents).toEqual([
    undefined,
    `00-${send!.spanContext().traceId}-${send!.spanContext().spanId}-01`,
  ]);
  await reader.forceFlush();
  const points = (name: string) =>
    exporter
      .getMetrics()
      .at(-1)!
      .scopeMetrics.flatMap((s) => s.metrics)
      .find((m) => m.descriptor.name === name)?.dataPoints ?? [];
  expect(points(METRICS.sent).map((p) => p.value)).toEqual([1]); // the event after registration only
  expect(points(METRICS.consumed).map((p) => p.value)).toEqual([1]);
  await bus.close();
});

it('with a context manager but no tracer, an upstream traceparent still reaches what the handler publishes', async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const upstream = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const middleware = openTelemetry();
  expect(middleware.enabled?.()).toBe(true);
  const bus = await createBus({ url: 'memory://otel-global-relay', middleware: [middleware] });
  const relayed: (string | undefined)[] = [];
  await bus.subscribe(Order, { group: 'g' }, async (order) => {
    await bus.publish(Relayed, order);
  });
  await bus.subscribe(Relayed, { group: 'g' }, (_order, ctx) => void relayed.push(ctx.headers.traceparent));
  await bus.publish(Order, { n: 3 }, { headers: { traceparent: upstream } });
  await until(() => relayed.length === 1);
  expect(relayed).toEqual([upstream]);
  await bus.close();
});
