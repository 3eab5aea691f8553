import { type Bus, defineEvent, type OutgoingMessage } from '@omnibus/core';

/** The benchmark event: a few typed fields plus a string sized so the encoded body hits `--size`. */
export const benchSchema = {
  type: 'record',
  name: 'BenchEvent',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'seq', type: 'long' },
    { name: 'amount', type: 'double' },
    { name: 'currency', type: { type: 'enum', name: 'Currency', symbols: ['EUR', 'USD', 'GBP'] } },
    { name: 'data', type: 'string' },
  ],
} as const;

export function benchContract(topic: string) {
  return defineEvent({ type: 'omnibus.bench.event', version: 1, topic, avro: benchSchema });
}

export type BenchContract = ReturnType<typeof benchContract>;

export interface BenchPayload {
  orderId: string;
  seq: number;
  amount: number;
  currency: 'EUR' | 'USD' | 'GBP';
  data: string;
}

/**
 * A payload whose encoded body (Avro single-object, 10-byte header included) is `size` bytes, or as
 * close as the fixed fields allow for tiny sizes.
 */
export function sizedPayload(size: number, seq = 1): BenchPayload {
  const contract = benchContract('omnibus.bench.sizing');
  const make = (pad: number): BenchPayload => ({
    orderId: 'order-000000000001',
    seq,
    amount: 1234.5,
    currency: 'EUR',
    data: 'x'.repeat(pad),
  });
  let pad = Math.max(0, size - contract.encode(make(0)).length);
  while (pad > 0 && contract.encode(make(pad)).length > size) pad--;
  return make(pad);
}

/** What the SDK puts on the wire for one event: body plus CloudEvents headers (the raw side sends the same). */
export function wireMessage(bus: Bus, contract: BenchContract, payload: BenchPayload): OutgoingMessage {
  return bus.encode(contract, payload);
}

export function headerBytes(headers: Record<string, string>): number {
  let total = 0;
  for (const [name, value] of Object.entries(headers))
    total += Buffer.byteLength(name) + Buffer.byteLength(value);
  return total;
}
