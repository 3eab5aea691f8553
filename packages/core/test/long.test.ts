import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { DecodeError, defineEvent, type EventOf, ValidationError } from '../src/index.ts';

/** The Avro spec's long encoding, written from the spec with bigint: zigzag, then 7-bit groups. */
function reference(n: bigint): string {
  let zigzag = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const out: number[] = [];
  do {
    let byte = Number(zigzag & 0x7fn);
    zigzag >>= 7n;
    if (zigzag > 0n) byte |= 0x80;
    out.push(byte);
  } while (zigzag > 0n);
  return Buffer.from(out).toString('hex');
}

const numbers = defineEvent({
  type: 'long.numbers',
  version: 1,
  avro: { type: 'record', name: 'N', fields: [{ name: 'v', type: 'long' }] } as const,
});
const bigints = defineEvent({
  type: 'long.bigints',
  version: 1,
  avro: {
    type: 'record',
    name: 'N',
    fields: [{ name: 'v', type: { type: 'long', jsType: 'bigint' } }],
  } as const,
});
/** The body after the 10-byte single-object header: the one long. */
const wire = (bytes: Buffer) => bytes.subarray(10).toString('hex');

const SAFE_BOUNDARIES = [
  0,
  1,
  -1,
  63,
  -64,
  64,
  -65,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 52,
  -(2 ** 52),
  2 ** 52 + 1,
  -(2 ** 52) - 1,
  2 ** 53 - 2,
  -(2 ** 53) + 2,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
];
const INT64_BOUNDARIES = [
  2n ** 53n,
  -(2n ** 53n),
  2n ** 53n + 1n,
  -(2n ** 53n) - 1n,
  2n ** 62n,
  -(2n ** 62n),
  2n ** 63n - 1n,
  -(2n ** 63n),
];

describe('Avro long is exact', () => {
  it('every boundary of the safe integers: the spec bytes, and back to the same number', () => {
    for (const v of SAFE_BOUNDARIES) {
      const bytes = numbers.encode({ v });
      expect(wire(bytes), `${v}`).toBe(reference(BigInt(v)));
      expect(numbers.decode(bytes).v, `${v}`).toBe(v);
    }
  });

  it('jsType bigint: the whole int64 range, the spec bytes, and back', () => {
    for (const v of [...SAFE_BOUNDARIES.map(BigInt), ...INT64_BOUNDARIES]) {
      const bytes = bigints.encode({ v });
      expect(wire(bytes), `${v}`).toBe(reference(v));
      expect(bigints.decode(bytes).v, `${v}`).toBe(v);
    }
  });

  it('10,000 random int64 values match the spec encoding', () => {
    for (let i = 0; i < 10_000; i++) {
      const v = BigInt.asIntN(
        64,
        BigInt(Math.floor(Math.random() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(Math.random() * 2 ** 32)),
      );
      const bytes = bigints.encode({ v });
      expect(wire(bytes)).toBe(reference(v));
      expect(bigints.decode(bytes).v).toBe(v);
    }
  });

  it('a number field refuses what it cannot hold exactly: a typed error, never a rounded value', () => {
    expect(() => numbers.encode({ v: 2 ** 53 })).toThrow(ValidationError);
    expect(() => numbers.encode({ v: 1.5 })).toThrow(ValidationError);
    // Written as bigint by another producer (same schema, same fingerprint), read as a number.
    expect(bigints.fingerprint).toBe(numbers.fingerprint);
    const big = bigints.encode({ v: 2n ** 53n });
    expect(() => numbers.decode(big)).toThrow(DecodeError);
    expect(() => numbers.decode(big)).toThrow(
      /long 9007199254740992 is beyond ±\(2\^53−1\).*jsType: 'bigint'/,
    );
    expect(numbers.decode(bigints.encode({ v: -(2n ** 53n) + 1n })).v).toBe(Number.MIN_SAFE_INTEGER);
  });

  it('a bigint field takes only bigints in the int64 range', () => {
    expect(() => bigints.encode({ v: 2n ** 63n })).toThrow(ValidationError);
    expect(() => bigints.encode({ v: 1 as unknown as bigint })).toThrow(ValidationError);
  });

  it('infers bigint for jsType bigint and for z.bigint(), number otherwise', () => {
    const zod = defineEvent({
      type: 'long.zod',
      version: 1,
      zod: z.object({ big: z.bigint(), small: z.number().int() }),
    });
    expectTypeOf<EventOf<typeof bigints>['v']>().toEqualTypeOf<bigint>();
    expectTypeOf<EventOf<typeof numbers>['v']>().toEqualTypeOf<number>();
    expectTypeOf<EventOf<typeof zod>['big']>().toEqualTypeOf<bigint>();
    const decoded = zod.decode(zod.encode({ big: -(2n ** 63n), small: -(2 ** 52) - 1 }));
    expect(decoded).toEqual({ big: -(2n ** 63n), small: -(2 ** 52) - 1 });
    expect(wire(zod.encode({ big: 0n, small: -(2 ** 52) - 1 })).slice(2)).toBe(reference(-(2n ** 52n) - 1n));
  });
});

describe('Avro long through a bus (memory://)', () => {
  it('publishes and handles int64 boundaries exactly; a number beyond ±(2^53−1) is refused naming the field', async () => {
    const { createBus } = await import('../src/index.ts');
    const Ledger = defineEvent({
      type: 'long.ledger',
      version: 1,
      avro: {
        type: 'record',
        name: 'Entry',
        fields: [
          { name: 'cents', type: 'long' },
          { name: 'id', type: { type: 'long', jsType: 'bigint' } },
        ],
      } as const,
    });
    const bus = await createBus({ url: 'memory://long-bus' });
    await bus.provision(Ledger, { groups: ['g'] });
    const got: EventOf<typeof Ledger>[] = [];
    await bus.subscribe(Ledger, { group: 'g' }, (event) => void got.push(event));
    const sent = [
      { cents: -(2 ** 52) - 1, id: -(2n ** 63n) },
      { cents: Number.MAX_SAFE_INTEGER, id: 2n ** 63n - 1n },
      { cents: -(2 ** 53) + 2, id: -(2n ** 53n) - 1n },
    ];
    for (const entry of sent) await bus.publish(Ledger, entry, { key: 'k' });
    const deadline = Date.now() + 5_000;
    while (got.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(sent);
    const refused = await bus.publish(Ledger, { cents: 2 ** 53, id: 0n }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect(String(refused)).toMatch(/cents/);
    await bus.close();
  });
});
