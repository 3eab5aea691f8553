import { defineEvent, IncompatibleSchemaError } from '@omnibus/core';
import { type ConformanceCase, check, sleep, testContract, testEventSchema } from '../harness.ts';

const v2Schema = {
  ...testEventSchema,
  fields: [...testEventSchema.fields, { name: 'region', type: 'string', default: 'unknown' }],
} as const;

const evolution: ConformanceCase = {
  name: 'schema-evolution',
  requires: ['fanOut'],
  timeoutMs: 60_000,
  async run(ctx) {
    const topic = ctx.topic();
    const v1 = testContract(topic);
    const v2 = defineEvent({
      type: v1.type,
      version: 2,
      topic,
      avro: v2Schema,
      previousVersions: [{ version: 1, avro: testEventSchema }],
      compatibility: 'full',
    });
    let incompatible: unknown;
    try {
      defineEvent({
        type: v1.type,
        version: 3,
        topic,
        avro: {
          ...testEventSchema,
          fields: [...testEventSchema.fields, { name: 'required', type: 'string' }],
        },
        previousVersions: [{ version: 1, avro: testEventSchema }],
      });
    } catch (error) {
      incompatible = error;
    }
    check(
      incompatible instanceof IncompatibleSchemaError,
      () => `adding a field without default passed the backward check: ${incompatible}`,
    );

    const bus = await ctx.bus();
    const byV2: Record<string, unknown>[] = [];
    const byV1: Record<string, unknown>[] = [];
    await bus.subscribe(v2, { group: 'reader-v2' }, (event) => void byV2.push({ ...event }));
    await bus.subscribe(v1, { group: 'reader-v1' }, (event) => void byV1.push({ ...event }));
    await bus.publish(v1, { seq: 1, key: 'k', payload: 'from v1' }, { key: 'k' });
    await bus.publish(v2, { seq: 2, key: 'k', payload: 'from v2', region: 'eu' }, { key: 'k' });
    await ctx.waitFor(
      () => byV2.length >= 2 && byV1.length >= 2,
      () => `v2 reader got ${byV2.length}/2, v1 reader got ${byV1.length}/2`,
    );
    check(
      byV2[0]!.region === 'unknown' && byV2[1]!.region === 'eu',
      () => `v2 reader saw ${JSON.stringify(byV2)}`,
    );
    check(
      byV1[1]!.payload === 'from v2' && !('region' in byV1[1]!),
      () => `v1 reader saw ${JSON.stringify(byV1)}`,
    );
  },
};

const garbage: ConformanceCase = {
  name: 'schema-garbage-on-the-wire',
  requires: ['deadLetter'],
  timeoutMs: 60_000,
  async run(ctx) {
    const topic = ctx.topic();
    const contract = testContract(topic);
    const bus = await ctx.bus();
    const got: number[] = [];
    const letters: { reason: string; error: string; body: Uint8Array }[] = [];
    await bus.subscribe(contract, { group: 'g', concurrency: 1 }, (event) => void got.push(event.seq));
    await bus.subscribeDeadLetters(contract, {}, (letter) => void letters.push(letter));
    await bus.publishRaw({
      topic,
      key: 'k',
      body: Buffer.from('definitely not avro'),
      headers: { ce_id: 'garbage-1', ce_type: contract.type },
    });
    const unknownWriter = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 7), Buffer.from([2, 2])]);
    await bus.publishRaw({
      topic,
      key: 'k',
      body: unknownWriter,
      headers: { ce_id: 'garbage-2', ce_type: contract.type },
    });
    for (let seq = 0; seq < 10; seq++)
      await bus.publish(contract, { seq, key: 'k', payload: 'ok' }, { key: 'k' });
    await ctx.waitFor(
      () => got.length >= 10 && letters.length >= 2,
      () => `${got.length}/10 valid events, ${letters.length}/2 dead letters`,
    );
    check(
      letters.every((l) => l.reason === 'undecodable' && l.error.length > 0),
      () => `dead letters lack a reason: ${JSON.stringify(letters.map((l) => [l.reason, l.error]))}`,
    );
    check(
      Buffer.from(letters.find((l) => l.error.includes('magic'))?.body ?? []).toString() ===
        'definitely not avro',
      () => 'dead letter does not keep the original bytes',
    );
    check(
      letters.some((l) => /unknown writer schema/.test(l.error)),
      () => 'unknown-writer event not dead-lettered with its reason',
    );
    await sleep(200);
    check(
      JSON.stringify(got) === JSON.stringify([...Array(10).keys()]),
      () => `valid events after garbage: ${JSON.stringify(got)}`,
    );
  },
};

export const schemaCases = [evolution, garbage];
