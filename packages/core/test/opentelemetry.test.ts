import { context, createTraceState, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createBus, defineEvent } from '../src/index.ts';
import { METRICS, openTelemetry } from '../src/opentelemetry/index.ts';

const orderSchema = { type: 'record', name: 'Order', fields: [{ name: 'n', type: 'int' }] } as const;
const Order = defineEvent({ type: 'otel.order', version: 1, avro: orderSchema });
const Charge = defineEvent({ type: 'otel.charge', version: 1, avro: orderSchema });

const spans = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => context.disable());
beforeEach(() => spans.reset());

const until = async (condition: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};
const named = (name: string) => spans.getFinishedSpans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

it('one trace runs from a publish through its handler, the handler’s own publish and that event’s handler', async () => {
  const bus = await createBus({
    url: 'memory://otel-trace',
    middleware: [openTelemetry({ tracerProvider })],
  });
  const traceparents: string[] = [];
  await bus.subscribe(Order, { group: 'billing' }, async (order, ctx) => {
    traceparents.push(ctx.headers.traceparent!);
    await bus.publish(Charge, { n: order.n }, { key: 'c' });
  });
  await bus.subscribe(Charge, { group: 'ledger' }, () => {});
  const { id } = await bus.publish(Order, { n: 7 }, { key: 'o' });
  await until(() => named('process otel.charge').length === 1);

  const [sendOrder] = named('send otel.order');
  const [processOrder] = named('process otel.order');
  const [sendCharge] = named('send otel.charge');
  const [processCharge] = named('process otel.charge');
  const all = [sendOrder!, processOrder!, sendCharge!, processCharge!];
  expect(new Set(all.map((s) => s.spanContext().traceId)).size).toBe(1);
  expect(parentOf(sendOrder!)).toBeUndefined();
  expect(parentOf(processOrder!)).toBe(sendOrder!.spanContext().spanId);
  expect(parentOf(sendCharge!)).toBe(processOrder!.spanContext().spanId);
  expect(parentOf(processCharge!)).toBe(sendCharge!.spanContext().spanId);
  expect(processOrder!.links.map((l) => l.context.spanId)).toEqual([sendOrder!.spanContext().spanId]);
  expect(traceparents).toEqual([
    `00-${sendOrder!.spanContext().traceId}-${sendOrder!.spanContext().spanId}-01`,
  ]);

  expect(sendOrder!.kind).toBe(SpanKind.PRODUCER);
  expect(sendOrder!.attributes).toMatchObject({
    'messaging.system': 'memory',
    'messaging.destination.name': 'otel.order',
    'messaging.operation.name': 'send',
    'messaging.operation.type': 'send',
    'messaging.message.id': id,
    'cloudevents.event_type': 'otel.order',
  });
  expect(processOrder!.kind).toBe(SpanKind.CONSUMER);
  expect(processOrder!.attributes).toMatchObject({
    'messaging.system': 'memory',
    'messaging.destination.name': 'otel.order',
    'messaging.consumer.group.name': 'billing',
    'messaging.operation.name': 'process',
    'messaging.operation.type': 'process',
    'messaging.message.id': id,
    'omnibus.attempt': 1,
    'omnibus.outcome': 'ack',
  });
  expect(processOrder!.status.code).toBe(SpanStatusCode.UNSET);
  await bus.close();
});

it('retries, the dead-letter and an idempotent skip show on the process spans', async () => {
  const bus = await createBus({
    url: 'memory://otel-outcomes',
    middleware: [openTelemetry({ tracerProvider })],
  });
  await bus.subscribe(
    Order,
    { group: 'g', maxAttempts: 2, backoff: { initialDelayMs: 1 }, idempotency: { store: 'memory' } },
    (order) => {
      if (order.n === 13) throw new TypeError('unlucky');
    },
  );
  await bus.publish(Order, { n: 13 }, { key: 'k' });
  await bus.publish(Order, { n: 1 }, { key: 'k', id: 'once' });
  await bus.publish(Order, { n: 1 }, { key: 'k', id: 'once' });
  await until(() => named('process otel.order').length === 4);
  const runs = named('process otel.order').map((s) => ({
    attempt: s.attributes['omnibus.attempt'],
    outcome: s.attributes['omnibus.outcome'],
    error: s.attributes['error.type'],
    status: s.status.code,
    events: s.events.map((e) => e.name),
  }));
  expect(runs).toEqual([
    {
      attempt: 1,
      outcome: 'retry',
      error: 'TypeError',
      status: SpanStatusCode.ERROR,
      events: ['exception', 'retry'],
    },
    {
      attempt: 2,
      outcome: 'dead-letter',
      error: 'TypeError',
      status: SpanStatusCode.ERROR,
      events: ['exception', 'dead-letter'],
    },
    { attempt: 1, outcome: 'ack', error: undefined, status: SpanStatusCode.UNSET, events: [] },
    {
      attempt: 1,
      outcome: 'duplicate-skipped',
      error: undefined,
      status: SpanStatusCode.UNSET,
      events: ['duplicate-skipped'],
    },
  ]);
  await bus.close();
});

it('metrics count publishes and handler runs by outcome, time them and track runs in flight', async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const bus = await createBus({
    url: 'memory://otel-metrics',
    middleware: [openTelemetry({ meterProvider, traces: false })],
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let running = 0;
  await bus.subscribe(
    Order,
    { group: 'g', maxAttempts: 2, backoff: { initialDelayMs: 1 } },
    async (order) => {
      running++;
      if (order.n === 0) await gate;
      if (order.n === 13) throw new Error('unlucky');
    },
  );
  await bus.publish(Order, { n: 0 });
  await until(() => running === 1);
  const points = async () => {
    await reader.forceFlush();
    const metrics = exporter
      .getMetrics()
      .at(-1)!
      .scopeMetrics.flatMap((s) => s.metrics);
    exporter.reset();
    return (name: string) => metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? [];
  };
  expect((await points())(METRICS.active).map((p) => p.value)).toEqual([1]);
  release();
  await bus.publish(Order, { n: 13 });
  let read = await points();
  const deadLettered = () =>
    read(METRICS.consumed).some((p) => p.attributes['omnibus.outcome'] === 'dead-letter');
  for (const deadline = Date.now() + 3_000; !deadLettered() && Date.now() < deadline; ) read = await points();
  expect(read(METRICS.active).map((p) => p.value)).toEqual([0]);
  expect(read(METRICS.sent).map((p) => [p.attributes['messaging.destination.name'], p.value])).toEqual([
    ['otel.order', 2],
  ]);
  const byOutcome = Object.fromEntries(
    read(METRICS.consumed).map((p) => [p.attributes['omnibus.outcome'], p.value]),
  );
  expect(byOutcome).toEqual({ ack: 1, retry: 1, 'dead-letter': 1 });
  const durations = read(METRICS.processDuration).map((p) => [
    p.attributes['omnibus.outcome'],
    (p.value as { count: number }).count,
  ]);
  expect(durations).toEqual(
    expect.arrayContaining([
      ['ack', 1],
      ['retry', 1],
      ['dead-letter', 1],
    ]),
  );
  expect(read(METRICS.sendDuration)).toHaveLength(1);
  await bus.close();
  await meterProvider.shutdown();
});

it('publishBatch sends one span per event, and each event’s handler run is a child of its own span', async () => {
  const bus = await createBus({
    url: 'memory://otel-batch',
    middleware: [openTelemetry({ tracerProvider })],
  });
  const seen: string[] = [];
  await bus.subscribe(Order, { group: 'g' }, (_order, ctx) => void seen.push(ctx.id));
  const { ids } = await bus.publishBatch(Order, [{ payload: { n: 1 } }, { payload: { n: 2 }, key: 'k' }]);
  await until(() => named('process otel.order').length === 2);
  const sends = named('send otel.order');
  expect(sends.map((s) => s.attributes['messaging.message.id']).sort()).toEqual([...ids].sort());
  for (const processSpan of named('process otel.order')) {
    const send = sends.find(
      (s) => s.attributes['messaging.message.id'] === processSpan.attributes['messaging.message.id'],
    );
    expect(parentOf(processSpan)).toBe(send!.spanContext().spanId);
  }
  await bus.close();
});

it('tracestate travels with traceparent; a malformed traceparent starts a new trace instead of failing', async () => {
  const bus = await createBus({
    url: 'memory://otel-headers',
    middleware: [openTelemetry({ tracerProvider })],
  });
  const handled: Record<string, string>[] = [];
  await bus.subscribe(Order, { group: 'g' }, (_order, ctx) => void handled.push(ctx.headers));
  const tracer = tracerProvider.getTracer('test');
  const parent = tracer.startSpan('upstream');
  const withState = trace.setSpanContext(context.active(), {
    ...parent.spanContext(),
    traceState: createTraceState('vendor=abc'),
  });
  await context.with(withState, () => bus.publish(Order, { n: 1 }));
  parent.end();
  await bus.publishRaw(
    bus.encode(Order, { n: 2 }, { headers: { traceparent: '00-not-a-trace-01' }, id: 'malformed' }),
  );
  await until(() => named('process otel.order').length === 2);
  expect(handled.map((h) => h.tracestate)).toContain('vendor=abc');
  const processed = named('process otel.order');
  const malformed = processed.find((s) => s.attributes['messaging.message.id'] === 'malformed');
  const fromUpstream = processed.find((s) => s !== malformed);
  expect(fromUpstream!.spanContext().traceId).toBe(parent.spanContext().traceId);
  expect(malformed!.attributes['messaging.message.id']).toBe('malformed');
  expect(parentOf(malformed!)).toBeUndefined();
  expect(malformed!.links).toEqual([]);
  expect(malformed!.attributes['omnibus.outcome']).toBe('ack');
  await bus.close();
});

it('the main entry point never loads @opentelemetry/api: only @omnibus/core/opentelemetry does', async () => {
  const { execFileSync } = await import('node:child_process');
  const entry = new URL('../src/index.ts', import.meta.url).href;
  const script = `
    import { registerHooks } from 'node:module';
    registerHooks({
      resolve(specifier, context, next) {
        if (specifier.startsWith('@opentelemetry/')) throw new Error('imported ' + specifier);
        return next(specifier, context);
      },
    });
    const { createBus } = await import(${JSON.stringify(entry)});
    const bus = await createBus('memory://no-otel');
    await bus.close();
    console.log('ran without OpenTelemetry');`;
  // execArgv carries the workspace's source condition, as fork() would.
  const output = execFileSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  expect(output).toContain('ran without OpenTelemetry');
});
