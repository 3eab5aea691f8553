import { createBus } from '@omnibus/core';
import { z } from 'zod';
import { benchContract, sizedPayload } from './payload.ts';
import { median, now, perSecond } from './stats.ts';

export interface CodecResult {
  /** ops/s medians. */
  avroEncode: number;
  jsonEncode: number;
  avroDecode: number;
  jsonDecode: number;
  /** `zod.parse` then `JSON.stringify` to a Buffer: what a raw JSON publisher that validates does. */
  jsonZodEncode: number;
  /** `JSON.parse` of the Buffer then `zod.parse`: what a raw JSON consumer that validates does. */
  jsonZodDecode: number;
  /** `bus.encode`: validation + Avro + CloudEvents headers (id, time, writer schema) — what publish does before the adapter. */
  envelopeEncode: number;
  avroBytes: number;
  jsonBytes: number;
  runs: number;
  ops: number;
}

let sink = 0;

/** The bench record as a zod 4 schema, built once (as a competent raw JSON path would). */
export const benchZodSchema = z.object({
  orderId: z.string(),
  seq: z.number().int(),
  amount: z.number(),
  currency: z.enum(['EUR', 'USD', 'GBP']),
  data: z.string(),
});

function time(ops: number, operation: (i: number) => number): number {
  for (let i = 0; i < Math.min(ops, 2_000); i++) sink += operation(i); // warm-up
  const start = now();
  for (let i = 0; i < ops; i++) sink += operation(i);
  return perSecond(ops, now() - start);
}

/**
 * contract.encode/decode (validation + Avro single-object encoding, resolver lookup on decode) against
 * JSON of the same object to and from a Buffer (a broker carries bytes, so the conversion is counted on
 * both sides). Alternates the contenders within each run; medians of `runs`.
 */
export async function runCodec(size: number, ops: number, runs: number): Promise<CodecResult> {
  const contract = benchContract('omnibus.bench.codec');
  const payload = sizedPayload(size);
  const avroBytes = contract.encode(payload);
  const jsonBytes = Buffer.from(JSON.stringify(payload));
  const bus = await createBus({ url: 'memory://omnibus-bench-codec', source: 'urn:omnibus:bench' });
  const samples = {
    ae: [] as number[],
    je: [] as number[],
    ad: [] as number[],
    jd: [] as number[],
    env: [] as number[],
    jze: [] as number[],
    jzd: [] as number[],
  };
  try {
    for (let r = 0; r < runs; r++) {
      const avroFirst = r % 2 === 0;
      const encodeAvro = () => samples.ae.push(time(ops, () => contract.encode(payload).length));
      const encodeJson = () => samples.je.push(time(ops, () => Buffer.from(JSON.stringify(payload)).length));
      const decodeAvro = () => samples.ad.push(time(ops, () => contract.decode(avroBytes).seq));
      const decodeJson = () =>
        samples.jd.push(time(ops, () => (JSON.parse(jsonBytes.toString('utf8')) as { seq: number }).seq));
      const encodeJsonZod = () =>
        samples.jze.push(time(ops, () => Buffer.from(JSON.stringify(benchZodSchema.parse(payload))).length));
      const decodeJsonZod = () =>
        samples.jzd.push(time(ops, () => benchZodSchema.parse(JSON.parse(jsonBytes.toString('utf8'))).seq));
      for (const step of avroFirst
        ? [encodeAvro, encodeJson, encodeJsonZod, decodeAvro, decodeJson, decodeJsonZod]
        : [encodeJsonZod, encodeJson, encodeAvro, decodeJsonZod, decodeJson, decodeAvro])
        step();
      samples.env.push(time(ops, () => bus.encode(contract, payload).body.length));
    }
  } finally {
    await bus.close();
  }
  if (sink === -1) console.log(sink);
  return {
    avroEncode: median(samples.ae),
    jsonEncode: median(samples.je),
    avroDecode: median(samples.ad),
    jsonDecode: median(samples.jd),
    jsonZodEncode: median(samples.jze),
    jsonZodDecode: median(samples.jzd),
    envelopeEncode: median(samples.env),
    avroBytes: avroBytes.length,
    jsonBytes: jsonBytes.length,
    runs,
    ops,
  };
}
