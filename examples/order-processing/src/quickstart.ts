// The README's "Use it" snippet, verbatim between the markers; the examples test runs it.
// --- readme:start
import { createBus } from '@omnibus/core';
import { OrderPlaced } from './contracts.ts';

const bus = await createBus(process.env.BROKER_URL ?? 'memory://'); // or kafka://, amqp://, …

const sub = await bus.subscribe(
  OrderPlaced,
  { group: 'payments', concurrency: 8, maxAttempts: 5, idempotency: { store: 'memory' } },
  async (event, ctx) => {
    // event is typed from the contract; ctx has id, key, attempt, headers, time
    console.log(`charging ${event.customerId} ${event.totalCents} cents (attempt ${ctx.attempt})`);
  },
);

await bus.publish(
  OrderPlaced,
  { orderId: 'o-1', customerId: 'c-7', totalCents: 1299, note: null },
  { key: 'c-7' },
);
// --- readme:end
await new Promise((resolve) => setTimeout(resolve, 200));
await sub.close();
await bus.close();
