import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { rabinFingerprint } from '../src/fingerprint.ts';
import {
  checkCompatibility,
  DecodeError,
  defineEvent,
  IncompatibleSchemaError,
  ValidationError,
} from '../src/index.ts';

const Order = defineEvent({
  type: 'shop.order.placed',
  version: 1,
  avro: {
    type: 'record',
    name: 'OrderPlaced',
    namespace: 'shop',
    fields: [
      { name: 'orderId', type: { type: 'string', logicalType: 'uuid' } },
      { name: 'placedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'total', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
      { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] } },
      {
        name: 'items',
        type: {
          type: 'array',
          items: {
            type: 'record',
            name: 'Item',
            fields: [
              { name: 'sku', type: 'string' },
              { name: 'qty', type: 'int' },
            ],
          },
        },
      },
      { name: 'tags', type: { type: 'map', values: 'string' } },
      { name: 'note', type: ['null', 'string'], default: null },
    ],
  } as const,
});

const order = {
  orderId: '0b7c6a52-9d0e-4c39-8f7a-2a9a3b2f4e11',
  placedAt: new Date('2026-11-22T10:00:00.000Z'),
  total: '-1234.50',
  status: 'PAID' as const,
  items: [{ sku: 'A-1', qty: 2 }],
  tags: { channel: 'web' },
};

describe('Avro contracts', () => {
  it('round-trips nested records, arrays, maps, enums, unions and logical types', () => {
    const decoded = Order.decode(Order.encode(order));
    expect(decoded).toEqual({ ...order, note: null });
    expect(decoded.placedAt).toBeInstanceOf(Date);
  });

  it('writes Avro single-object encoding with the CRC-64-AVRO fingerprint', () => {
    // Vector from the Avro project's own tests: schema "int" → c3 01 8f 5c 39 3f 1a d5 75 72.
    expect(rabinFingerprint('"int"').toString('hex')).toBe('8f5c393f1ad57572');
    const bytes = Order.encode(order);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    expect(bytes.subarray(2, 10).toString('hex')).toBe(Order.fingerprint);
  });

  it('encodes many events into shared buffers without one overwriting another', () => {
    // Sizes from a few bytes to well past a slab: events cross slab boundaries and the largest get their own.
    const events = Array.from({ length: 3_000 }, (_, i) => ({
      ...order,
      items: Array.from({ length: (i * 7) % 13 }, (_, j) => ({ sku: `S-${i}-${j}`, qty: j })),
      tags: { i: String(i) },
      note: i % 97 === 0 ? 'n'.repeat(20_000 + i) : i % 5 === 0 ? null : 'é'.repeat(i % 300),
    }));
    const encoded = events.map((event) => Order.encode(event));
    const views = new Set(encoded.map((bytes) => bytes.buffer));
    expect(views.size).toBeLessThan(encoded.length); // shared, as the slab intends
    for (const [i, bytes] of encoded.entries()) expect(Order.decode(bytes)).toEqual(events[i]);
  });

  it('names the field path of every invalid value', () => {
    const bad = { ...order, items: [{ sku: 'A-1', qty: 'two' }], total: 12 } as never;
    const error = (() => {
      try {
        Order.encode(bad);
      } catch (e) {
        return e;
      }
    })() as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.code).toBe('VALIDATION');
    expect(error.issues.map((i) => i.path)).toEqual(expect.arrayContaining([['total'], ['items', 0, 'qty']]));
    expect(error.message).toMatch(/items\[0\]\.qty/);
  });

  it('rejects undeclared fields instead of dropping them', () => {
    expect(() => Order.encode({ ...order, totl: '1.00' } as never)).toThrow(/unexpected field\(s\) totl/);
  });

  it('dead-letter-worthy bytes raise DecodeError', () => {
    expect(() => Order.decode(Buffer.from('nope'))).toThrow(DecodeError);
    const unknown = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8), Buffer.from([0])]);
    expect(() => Order.decode(unknown)).toThrow(/unknown writer schema/);
  });
});

describe('zod contracts', () => {
  const Payment = defineEvent({
    type: 'shop.payment.captured',
    version: 1,
    zod: z.object({
      orderId: z.uuid(),
      amountCents: z.number().int(),
      method: z.enum(['card', 'iban']),
      capturedAt: z.date(),
      memo: z.string().optional(),
      refs: z.array(z.string()).default([]),
    }),
  });

  it('derives an Avro schema and round-trips, keeping optional fields absent', () => {
    const value = {
      orderId: order.orderId,
      amountCents: 1299,
      method: 'card' as const,
      capturedAt: new Date(0),
    };
    expect(Payment.decode(Payment.encode(value))).toEqual({ ...value, refs: [] });
    expect(JSON.parse(Payment.schemaJson).fields.map((f: { name: string }) => f.name)).toEqual([
      'orderId',
      'amountCents',
      'method',
      'capturedAt',
      'memo',
      'refs',
    ]);
  });

  it('reports zod issues with their path', () => {
    expect(() =>
      Payment.encode({ orderId: 'x', amountCents: 1.5, method: 'card', capturedAt: new Date() }),
    ).toThrow(/orderId: .*; amountCents/);
  });

  it('refuses zod types Avro cannot carry, naming the field', () => {
    expect(() =>
      defineEvent({
        type: 'x.y',
        version: 1,
        zod: z.object({ size: z.string().transform((s) => s.length) }),
      }),
    ).toThrow(/at size/);
  });
});

describe('evolution', () => {
  const v1 = { type: 'record', name: 'Thing', fields: [{ name: 'id', type: 'string' }] } as const;
  const v2 = {
    type: 'record',
    name: 'Thing',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'size', type: 'int', default: 1 },
    ],
  } as const;

  it('a v2 reader resolves v1 writers and fills defaults', () => {
    const Old = defineEvent({ type: 'thing', version: 1, avro: v1 });
    const New = defineEvent({
      type: 'thing',
      version: 2,
      avro: v2,
      previousVersions: [{ version: 1, avro: v1 }],
    });
    expect(New.decode(Old.encode({ id: 'a' }))).toEqual({ id: 'a', size: 1 });
  });

  it('a v1 reader resolves v2 writers from the embedded writer schema', () => {
    const Old = defineEvent({ type: 'thing', version: 1, avro: v1 });
    const New = defineEvent({ type: 'thing', version: 2, avro: v2 });
    expect(Old.decode(New.encode({ id: 'a', size: 3 }), New.schemaJson)).toEqual({ id: 'a' });
  });

  it('acceptedWriters: reads a newer writer that sends no schema header; refuses one it cannot read', () => {
    const Newer = defineEvent({ type: 'thing', version: 3, avro: v2 });
    const Plain = defineEvent({ type: 'thing', version: 1, avro: v1 });
    // Without the header, an unknown writer is an error naming what to do…
    expect(() => Plain.decode(Newer.encode({ id: 'a', size: 3 }))).toThrow(
      /unknown writer schema.*acceptedWriters/,
    );
    // …with the writer declared, it is read.
    const Accepting = defineEvent({
      type: 'thing',
      version: 1,
      avro: v1,
      acceptedWriters: [{ version: 3, avro: v2 }],
    });
    expect(Accepting.decode(Newer.encode({ id: 'a', size: 3 }))).toEqual({ id: 'a' });
    const unreadable = { type: 'record', name: 'Thing', fields: [{ name: 'id', type: 'int' }] } as const;
    expect(() =>
      defineEvent({
        type: 'thing',
        version: 1,
        avro: v1,
        acceptedWriters: [{ version: 9, avro: unreadable }],
      }),
    ).toThrow(/cannot read the accepted writer v9/);
  });

  it('embeds the full writer schema: logical types, decimal precision and scale, defaults', () => {
    const Priced = defineEvent({
      type: 'priced',
      version: 2,
      avro: {
        type: 'record',
        name: 'Priced',
        fields: [
          { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
          { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 } },
          { name: 'note', type: 'string', default: '' },
        ],
      } as const,
    });
    const full = JSON.parse(Priced.writerSchemaJson);
    expect(full.fields).toEqual([
      { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 } },
      { name: 'note', type: 'string', default: '' },
    ]);
    // The fingerprint stays that of the canonical form; a reader that knows only the event reads it whole.
    expect(rabinFingerprint(Priced.schemaJson).toString('hex')).toBe(Priced.fingerprint);
    const Reader = defineEvent({
      type: 'priced',
      version: 1,
      avro: {
        type: 'record',
        name: 'Priced',
        fields: [{ name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } }],
      } as const,
    });
    const at = new Date('2026-01-02T03:04:05.678Z');
    const bytes = Priced.encode({ at, price: '12.30' });
    expect(Reader.decode(bytes, Priced.writerSchemaJson)).toEqual({ at });
  });

  it('fails early on an incompatible declared evolution, and checkCompatibility explains', () => {
    const broken = {
      type: 'record',
      name: 'Thing',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'size', type: 'int' },
      ],
    } as const;
    expect(() =>
      defineEvent({ type: 'thing', version: 2, avro: broken, previousVersions: [{ version: 1, avro: v1 }] }),
    ).toThrow(IncompatibleSchemaError);
    const result = checkCompatibility({ avro: broken }, { avro: v1 });
    expect(result.compatible).toBe(false);
    expect(result.reason).toBeTruthy();
    expect(checkCompatibility({ avro: v2 }, { avro: v1 })).toEqual({ compatible: true });
  });
});
