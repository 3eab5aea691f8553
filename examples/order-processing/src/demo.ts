import { randomUUID } from 'node:crypto';
import { createBus, redactUrl } from '@omnibus/core';
import { OrderPlaced, PaymentCaptured } from './contracts.ts';

export interface DemoSummary {
  url: string;
  published: number;
  /** Inventory + shipping handler invocations (10 when the duplicate is absorbed). */
  handlerRuns: number;
  payments: number;
  inventory: number;
  shipping: number;
  captured: number;
  deadLetters: { orderId: string; group: string; attempts: number; error: string }[];
  lines: string[];
  /** With `trace`: the first order's trace through the services, one line per span (empty without). */
  trace: string[];
}

export interface DemoOptions {
  /** Trace every publish and handler run with an in-process OpenTelemetry SDK and print one order's trace. */
  trace?: boolean;
}

/**
 * Five orders: one is poison for payments (its card issuer never answers), one is published twice.
 * Each service runs in its own group, so each sees every order; idempotency absorbs the duplicate.
 */
export async function runDemo(url: string, options: DemoOptions = {}): Promise<DemoSummary> {
  const started = Date.now();
  const run = randomUUID().slice(0, 8); // tags this run's orders, so a long-lived broker's history is ignored
  const tracing = options.trace ? (await import('./trace.ts')).startTracing() : undefined;
  const bus = await createBus({ url, middleware: tracing ? [tracing.middleware] : [] });
  const mine = (orderId: string) => orderId.startsWith(`${run}-`);
  const seen = {
    payments: new Set<string>(),
    inventory: new Set<string>(),
    shipping: new Set<string>(),
    captured: new Set<string>(),
  };
  const deadLetters: DemoSummary['deadLetters'] = [];
  let handlerRuns = 0; // inventory + shipping invocations: 10 means the duplicate ran nowhere
  const retry = {
    maxAttempts: 3,
    backoff: { initialDelayMs: 50 },
    idempotency: { store: 'memory' as const },
  };

  await bus.provision(OrderPlaced, { groups: ['payments', 'inventory', 'shipping'] });
  await bus.subscribe(OrderPlaced, { group: 'payments', ...retry }, async (order, ctx) => {
    if (!mine(order.orderId)) return;
    if (order.note === 'issuer offline')
      throw new Error(`card declined: issuer unreachable (attempt ${ctx.attempt})`);
    seen.payments.add(order.orderId);
    await bus.publish(
      PaymentCaptured,
      { orderId: order.orderId, amountCents: order.totalCents },
      { key: order.customerId },
    );
  });
  await bus.subscribe(OrderPlaced, { group: 'inventory', ...retry }, (order) => {
    if (!mine(order.orderId)) return;
    handlerRuns++;
    seen.inventory.add(order.orderId);
  });
  await bus.subscribe(OrderPlaced, { group: 'shipping', ...retry }, (order) => {
    if (!mine(order.orderId)) return;
    handlerRuns++;
    seen.shipping.add(order.orderId);
  });
  await bus.subscribe(PaymentCaptured, { group: 'ledger' }, (payment) => {
    if (mine(payment.orderId)) seen.captured.add(payment.orderId);
  });
  await bus.subscribeDeadLetters(OrderPlaced, {}, (letter) => {
    const order = OrderPlaced.decode(letter.body);
    if (mine(order.orderId))
      deadLetters.push({
        orderId: order.orderId,
        group: letter.group,
        attempts: letter.attempts,
        error: letter.error,
      });
  });

  const orders = [1, 2, 3, 4, 5].map((n) => ({
    orderId: `${run}-o${n}`,
    customerId: `c-${n % 2}`,
    totalCents: 1000 + n * 99,
    note: n === 4 ? 'issuer offline' : null,
  }));
  let published = 0;
  const ids: string[] = [];
  for (const order of orders) {
    const { id } = await bus.publish(OrderPlaced, order, { key: order.customerId });
    ids.push(id);
    published++;
    if (order.orderId.endsWith('o2')) {
      await bus.publish(OrderPlaced, order, { key: order.customerId, id }); // the same event again
      published++;
    }
  }

  const deadline = Date.now() + 60_000;
  const finished = () =>
    seen.inventory.size === 5 &&
    seen.shipping.size === 5 &&
    seen.payments.size === 4 &&
    seen.captured.size === 4 &&
    deadLetters.length === 1;
  while (!finished() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await bus.close();
  let trace: string[] = [];
  if (tracing) {
    const { orderTrace } = await import('./trace.ts');
    trace = orderTrace(tracing.spans(), ids[0]!, 'order o1 through the services');
    await tracing.stop();
  }

  const letter = deadLetters[0];
  const lines = [
    `omnibus demo on ${redactUrl(url)}`,
    `  shop         published ${published} OrderPlaced events (5 orders, one of them twice)`,
    `  payments     captured ${seen.payments.size} payments; ${deadLetters.length} order dead-lettered`,
    `  inventory    reserved stock for ${seen.inventory.size} orders`,
    `  shipping     scheduled ${seen.shipping.size} shipments`,
    `  ledger       recorded ${seen.captured.size} PaymentCaptured events`,
    `  idempotency  ${published} events, ${handlerRuns / 2} handler runs per service: the duplicate was acked without running`,
    letter
      ? `  dead letter  ${letter.orderId.replace(`${run}-`, '')} — ${letter.group} gave up after ${letter.attempts} attempts: ${letter.error}`
      : '  dead letter  none arrived (expected one)',
    finished()
      ? `done in ${((Date.now() - started) / 1000).toFixed(1)}s`
      : 'INCOMPLETE: timed out waiting for the services',
  ];
  return {
    url,
    published,
    handlerRuns,
    ...Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, v.size])),
    deadLetters,
    lines,
    trace,
  } as DemoSummary;
}
