import { defineEvent } from '@omnibus/core';

/**
 * The omnibus side of the contract. The Java service keeps its own copy of the same Avro schema
 * (src/main/resources/OrderPlaced.avsc); `jsType` is local to this service and not part of the schema's
 * canonical form, so both have one fingerprint — which is how omnibus recognises the Java service's events
 * when they come without the writer-schema header.
 */
export const orderPlacedSchema = {
  type: 'record',
  name: 'OrderPlaced',
  namespace: 'shop',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'quantity', type: { type: 'long', jsType: 'bigint' } },
    { name: 'total', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    { name: 'placedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
} as const;

export function orderPlaced(topic: string) {
  return defineEvent({ type: 'shop.order.placed', version: 1, topic, avro: orderPlacedSchema });
}
