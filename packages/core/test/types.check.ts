/**
 * Type-level test, checked by `pnpm typecheck` (tsc): every `@ts-expect-error` below must be an error,
 * so a regression that lets wrong payloads compile fails CI.
 */
import { z } from 'zod';
import { createBus, defineEvent, type EventOf } from '../src/index.ts';

const Order = defineEvent({
  type: 'shop.order.placed',
  version: 1,
  avro: {
    type: 'record',
    name: 'OrderPlaced',
    fields: [
      { name: 'orderId', type: 'string' },
      { name: 'totalCents', type: 'long' },
      { name: 'placedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'status', type: { type: 'enum', name: 'S', symbols: ['NEW', 'PAID'] } },
      {
        name: 'lines',
        type: {
          type: 'array',
          items: { type: 'record', name: 'L', fields: [{ name: 'sku', type: 'string' }] },
        },
      },
      { name: 'note', type: ['null', 'string'], default: null },
    ],
  } as const,
});
const Payment = defineEvent({
  type: 'p',
  version: 1,
  zod: z.object({ amountCents: z.number().int(), memo: z.string().optional() }),
});

export async function typeChecks(): Promise<void> {
  const bus = await createBus();
  const ok = {
    orderId: 'o',
    totalCents: 1,
    placedAt: new Date(),
    status: 'NEW',
    lines: [{ sku: 'a' }],
  } as const;
  await bus.publish(Order, ok); // readonly (as const) input is fine; `note` has a default: optional on publish
  // @ts-expect-error totalCents must be a number
  await bus.publish(Order, { ...ok, totalCents: '1' });
  // @ts-expect-error unknown enum symbol
  await bus.publish(Order, { ...ok, status: 'LOST' });
  // @ts-expect-error nested record field has the wrong type
  await bus.publish(Order, { ...ok, lines: [{ sku: 1 }] });
  // @ts-expect-error a required field is missing
  await bus.publish(Order, { totalCents: 1, placedAt: new Date(), status: 'NEW', lines: [] });
  await bus.publish(Payment, { amountCents: 5 });
  // @ts-expect-error zod contracts infer too
  await bus.publish(Payment, { amountCents: 'five' });
  await bus.subscribe(Order, { group: 'g' }, (event) => {
    const note: string | null = event.note; // required on the consumer side
    const when: Date = event.placedAt;
    // @ts-expect-error the decoded event has no such field
    void event.missing;
    void note;
    void when;
  });
  const typed: EventOf<typeof Payment> = { amountCents: 1 };
  void typed;
}
