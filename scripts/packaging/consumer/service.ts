// A TypeScript service, type-checked outside the workspace with TypeScript 5, `strict`, `module: nodenext`
// and `skipLibCheck: false` (see tsconfig.json): the published declarations must compile under a user's
// strict settings, and payload types must be inferred (each @ts-expect-error fails the check if not).
import { createBus, defineEvent, type EventOf, type Logger } from '@omnibus/core';
import { z } from 'zod';

const OrderPlaced = defineEvent({
  type: 'consumer.order.placed',
  version: 1,
  avro: {
    type: 'record',
    name: 'OrderPlaced',
    fields: [
      { name: 'orderId', type: 'string' },
      { name: 'totalCents', type: 'long' },
    ],
  } as const,
});
const PaymentCaptured = defineEvent({
  type: 'consumer.payment.captured',
  version: 1,
  zod: z.object({ orderId: z.string(), amountCents: z.number().int() }),
});

const { BROKER_URL = 'memory://' } = process.env;
const logger: Logger = console; // pino loggers fit too
const bus = await createBus({ url: BROKER_URL, logger });
await bus.subscribe(OrderPlaced, { group: 'billing' }, (event, context) => {
  const orderId: string = event.orderId;
  const cents: number = event.totalCents;
  // @ts-expect-error the event has no such field: handlers see the contract's type, not `any`
  void [orderId, cents, context.attempt, event.customer];
});
await bus.publish(OrderPlaced, { orderId: 'o-1', totalCents: 1299 }, { key: 'o-1' });
// @ts-expect-error totalCents is a long: a string payload does not compile
await bus.publish(OrderPlaced, { orderId: 'o-1', totalCents: 'lots' });
// @ts-expect-error amountCents is required by the zod schema
await bus.publish(PaymentCaptured, { orderId: 'o-1' });
export const captured: EventOf<typeof PaymentCaptured> = { orderId: 'o-1', amountCents: 5 };
await bus.close();
