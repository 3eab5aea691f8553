import avro from 'avsc';

/**
 * Avro `long` without rounding. avsc's own long type zigzag-encodes with floating-point arithmetic: negative
 * values between −(2^53−2) and −(2^52+1) change sign on the wire and back, silently, and values beyond
 * ±(2^53−1) written by other implementations cannot be read. These go through the exact two's-complement
 * bytes instead:
 * - `long` is a JavaScript `number`, exact for every safe integer (±(2^53−1)). A value outside that range
 *   is refused when writing (a validation error) and when reading (the event is dead-lettered with the
 *   reason) — never rounded.
 * - `{ type: 'long', jsType: 'bigint' }` is a `bigint` over the whole int64 range. `jsType` is a local
 *   reading of the field: it is not part of the schema's canonical form, fingerprint or wire format, so a
 *   producer and a consumer may choose differently.
 */
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function bytes(value: bigint): Buffer {
  const buffer = Buffer.allocUnsafe(8);
  buffer.writeBigInt64LE(value);
  return buffer;
}

function compare(a: number | bigint, b: number | bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/** `long` as a number: exact for safe integers, refuses the rest. */
const exactNumberLong = avro.types.LongType.__with({
  fromBuffer(buffer: Buffer): number {
    const value = buffer.readBigInt64LE(0);
    if (value < MIN_SAFE || value > MAX_SAFE) {
      throw new RangeError(
        `long ${value} is beyond ±(2^53−1): a JavaScript number would round it; read the field as bigint ({ type: 'long', jsType: 'bigint' })`,
      );
    }
    return Number(value);
  },
  toBuffer: (value: number) => bytes(BigInt(value)),
  fromJSON: (value: unknown) => Number(value),
  toJSON: (value: number) => value,
  isValid: (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value),
  compare,
});

/** Below this magnitude avsc's own varint arithmetic is exact (the zigzag value stays within 2^53). */
const FAST = 2 ** 52;

interface Tap {
  pos: number;
  readLong(): number;
  writeLong(value: number): void;
}
type Codec = { _read(tap: Tap): unknown; _write(tap: Tap, value: unknown): void };

/**
 * The exact number long with avsc's fast varint path for the values it gets right (|n| < 2^52: nearly every
 * real value); the rest goes through the exact bytes. A value read past 2^52 is read again exactly.
 */
export const numberLong: avro.Type = Object.create(exactNumberLong, {
  _read: {
    value(this: Codec, tap: Tap): unknown {
      const start = tap.pos;
      const value = tap.readLong();
      if (value > -FAST && value < FAST) return value;
      tap.pos = start;
      return (exactNumberLong as unknown as Codec)._read.call(this, tap);
    },
  },
  _write: {
    value(this: Codec, tap: Tap, value: unknown): void {
      if (typeof value === 'number' && value > -FAST && value < FAST && Number.isInteger(value)) {
        tap.writeLong(value);
      } else {
        (exactNumberLong as unknown as Codec)._write.call(this, tap, value);
      }
    },
  },
});

/** `long` as a bigint: the whole int64 range. */
export const bigintLong = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(0),
  toBuffer: (value: bigint) => bytes(value),
  fromJSON: (value: unknown) => BigInt(value as string | number | bigint),
  // JSON has no int64: safe values as numbers (as Avro JSON defaults are written), others as strings.
  toJSON: (value: bigint) => (value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value.toString()),
  isValid: (value: unknown) => typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX,
  compare,
});

/** avsc `typeHook`: every `long` of a schema becomes one of the exact types above. */
export function exactLongs(schema: avro.Schema): avro.Type | undefined {
  if (schema === 'long') return numberLong;
  if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
    const s = schema as { type?: unknown; logicalType?: unknown; jsType?: unknown };
    if (s.type === 'long' && s.logicalType === undefined)
      return s.jsType === 'bigint' ? bigintLong : numberLong;
  }
  return undefined;
}
