import avro from 'avsc';

/**
 * Avro logical types avsc leaves to the application. Values cross the wire in their Avro base type and
 * surface in TypeScript as the types `AvroValue` promises (Date for time, string for uuid and decimal).
 */
type AvroType = avro.Type;

/** Lets a reader resolve a writer of the same logical type or of the bare underlying type. */
class LogicalType extends avro.types.LogicalType {
  override _resolve(type: AvroType) {
    const self = this as unknown as {
      underlyingType: AvroType;
      _logicalTypeName: string;
      _fromValue(v: unknown): unknown;
    };
    // A logical writer's own read already converted the value; a bare writer's did not.
    if (avro.Type.isType(type, `logical:${self._logicalTypeName}`)) return (v: unknown) => v;
    if (avro.Type.isType(type, self.underlyingType.typeName)) return (v: unknown) => self._fromValue(v);
    return undefined;
  }
}

class TimestampMillis extends LogicalType {
  override _fromValue(value: number): Date {
    return new Date(value);
  }
  override _toValue(value: unknown): number | undefined {
    return value instanceof Date && !Number.isNaN(value.getTime()) ? value.getTime() : undefined;
  }
}

class TimestampMicros extends LogicalType {
  override _fromValue(value: number): Date {
    return new Date(Math.floor(value / 1000));
  }
  override _toValue(value: unknown): number | undefined {
    return value instanceof Date && !Number.isNaN(value.getTime()) ? value.getTime() * 1000 : undefined;
  }
}

const DAY_MS = 86_400_000;
class DateOnly extends LogicalType {
  override _fromValue(value: number): Date {
    return new Date(value * DAY_MS);
  }
  override _toValue(value: unknown): number | undefined {
    return value instanceof Date && !Number.isNaN(value.getTime())
      ? Math.floor(value.getTime() / DAY_MS)
      : undefined;
  }
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
class Uuid extends LogicalType {
  override _fromValue(value: string): string {
    return value;
  }
  override _toValue(value: unknown): string | undefined {
    return typeof value === 'string' && UUID_PATTERN.test(value) ? value : undefined;
  }
}

/** Exact decimals as strings ("-12.30"), stored as Avro's two's-complement unscaled integer bytes. */
class Decimal extends LogicalType {
  readonly scale: number;
  readonly precision: number;
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts);
    const s = schema as { scale?: number; precision?: number };
    this.scale = s.scale ?? 0;
    this.precision = s.precision ?? 38;
  }
  /** Part of the full schema (`schema({ exportAttrs: true })`): a reader needs them to read the bytes. */
  protected override _export(schema: avro.Schema): void {
    const attrs = schema as { precision?: number; scale?: number };
    attrs.precision = this.precision;
    attrs.scale = this.scale;
  }
  override _fromValue(bytes: Buffer): string {
    let unscaled = 0n;
    for (const b of bytes) unscaled = (unscaled << 8n) | BigInt(b);
    if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0) unscaled -= 1n << BigInt(bytes.length * 8);
    const negative = unscaled < 0n;
    const digits = (negative ? -unscaled : unscaled).toString().padStart(this.scale + 1, '0');
    const whole = digits.slice(0, digits.length - this.scale);
    const fraction = this.scale > 0 ? `.${digits.slice(digits.length - this.scale)}` : '';
    return `${negative ? '-' : ''}${whole}${fraction}`;
  }
  override _toValue(value: unknown): Buffer | undefined {
    if (typeof value !== 'string') return undefined;
    const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value);
    if (!match) return undefined;
    const fraction = match[3] ?? '';
    if (fraction.length > this.scale) return undefined;
    const digits = `${match[2]}${fraction.padEnd(this.scale, '0')}`.replace(/^0+(?=\d)/, '');
    if (digits.length > this.precision) return undefined;
    let unscaled = BigInt(digits) * (match[1] ? -1n : 1n);
    const bytes: number[] = [];
    // Two's complement, big-endian, shortest form that keeps the sign bit right.
    do {
      bytes.unshift(Number(unscaled & 0xffn));
      unscaled >>= 8n;
    } while (
      !(unscaled === 0n && (bytes[0]! & 0x80) === 0) &&
      !(unscaled === -1n && (bytes[0]! & 0x80) !== 0)
    );
    return Buffer.from(bytes);
  }
}

/** Pass as avsc's `logicalTypes` option. */
export const logicalTypes = {
  'timestamp-millis': TimestampMillis,
  'timestamp-micros': TimestampMicros,
  date: DateOnly,
  uuid: Uuid,
  decimal: Decimal,
} as unknown as Record<string, new (schema: avro.Schema, opts?: unknown) => avro.types.LogicalType>;
