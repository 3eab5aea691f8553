import { defineEvent } from '@omnibus/core';

export const OrderPlaced = defineEvent({
  type: 'observability.order.placed',
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

export const PaymentCaptured = defineEvent({
  type: 'observability.payment.captured',
  version: 1,
  avro: {
    type: 'record',
    name: 'PaymentCaptured',
    fields: [
      { name: 'orderId', type: 'string' },
      { name: 'amountCents', type: 'long' },
    ],
  } as const,
});
