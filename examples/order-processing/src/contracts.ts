import { defineEvent } from '@omnibus/core';
import { z } from 'zod';

/** Written as an Avro schema `as const`: the payload type is inferred, no codegen. */
export const OrderPlaced = defineEvent({
  type: 'shop.order.placed', // CloudEvents `type`; also the default topic
  version: 1,
  avro: {
    type: 'record',
    name: 'OrderPlaced',
    namespace: 'shop',
    fields: [
      { name: 'orderId', type: 'string' },
      { name: 'customerId', type: 'string' },
      { name: 'totalCents', type: 'long' },
      { name: 'note', type: ['null', 'string'], default: null },
    ],
  } as const,
});

/** Written as a zod schema: the Avro schema is derived, the type is z.infer. */
export const PaymentCaptured = defineEvent({
  type: 'shop.payment.captured',
  version: 1,
  zod: z.object({ orderId: z.string(), amountCents: z.number().int() }),
});
