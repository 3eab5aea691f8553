// --- readme:start
import { createBus } from '@omnibus/core';
import { openTelemetry } from '@omnibus/core/opentelemetry';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { OrderPlaced, PaymentCaptured } from './contracts.ts';

// The service's OpenTelemetry setup: usually @opentelemetry/sdk-node with an OTLP exporter. Here the
// spans stay in memory so that this example can print them.
const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }),
);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

// One middleware: a `send` span per publish, a `process` span per handler run, the trace in `traceparent`.
const bus = await createBus({ url: process.env.BROKER_URL, middleware: [openTelemetry()] });

await bus.subscribe(OrderPlaced, { group: 'payments' }, async (order) => {
  // Published while the handler's span is current: it joins the order's trace.
  await bus.publish(PaymentCaptured, { orderId: order.orderId, amountCents: order.totalCents });
});
await bus.subscribe(PaymentCaptured, { group: 'ledger' }, () => {});
await bus.publish(OrderPlaced, { orderId: 'o-1', totalCents: 1299 }, { key: 'o-1' });
// --- readme:end

const { traceTree } = await import('./trace-tree.ts');
const deadline = Date.now() + 30_000;
while (spans.getFinishedSpans().length < 4 && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await bus.close();
const finished = spans.getFinishedSpans();
console.log(`${new Set(finished.map((s) => s.spanContext().traceId)).size} trace, ${finished.length} spans:`);
console.log(traceTree(finished).join('\n'));
