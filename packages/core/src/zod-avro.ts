import type { z } from 'zod';
import { ConfigError, formatPath } from './errors.ts';

/**
 * Derives an Avro record schema from a zod object schema, plus the two small conversions between zod's
 * view of a value and Avro's: an optional field is `undefined` in zod and `null` on the wire.
 * Supported: string (uuid format → uuid), number (int → long, else double), boolean, date →
 * timestamp-millis, enum, literal, array, record (string keys → map), object (nested record), optional,
 * nullable, default; bigint → long read as bigint. Anything else (transforms, unions of objects…) fails
 * with the field's path.
 */
export interface DerivedAvro {
  schema: Record<string, unknown>;
  /** zod value → value avsc can encode. */
  toAvro: (value: unknown) => unknown;
  /** decoded Avro value → value zod accepts. */
  fromAvro: (value: unknown) => unknown;
}

type Node = {
  schema: unknown;
  toAvro: (v: unknown) => unknown;
  fromAvro: (v: unknown) => unknown;
  nullable: boolean;
};
const same = (v: unknown) => v;

/** The zod versions whose schemas omnibus reads (the peer dependency range of @omnibus/core). */
export const SUPPORTED_ZOD_VERSIONS = '^4.0.0';

export function zodToAvro(schema: z.ZodType, recordName: string, namespace?: string): DerivedAvro {
  assertZod4(schema, recordName);
  const root = derive(schema, [], recordName);
  const avroSchema = root.schema as Record<string, unknown>;
  if (avroSchema.type !== 'record') throw new ConfigError(`zod contract ${recordName} must be a z.object(…)`);
  if (namespace) avroSchema.namespace = namespace;
  return { schema: avroSchema, toAvro: root.toAvro, fromAvro: root.fromAvro };
}

/** zod 4 schemas carry `_zod`; zod 3 ones only `_def`, which derive() cannot read (it would throw a TypeError). */
function assertZod4(schema: unknown, recordName: string): void {
  const probe = (typeof schema === 'object' && schema !== null ? schema : {}) as Record<string, unknown>;
  if ('_zod' in probe) return;
  const found = '_def' in probe ? 'a zod 3 schema' : 'not a zod schema';
  throw new ConfigError(
    `zod contract ${recordName}: \`zod\` is ${found} — omnibus reads schemas of zod 4 (zod@${SUPPORTED_ZOD_VERSIONS}); install zod@4, or write the contract as an Avro schema`,
  );
}

// biome-ignore lint/suspicious/noExplicitAny: zod's def is a discriminated union we read structurally.
type AnyDef = any;

function derive(schema: z.ZodType, path: (string | number)[], name: string): Node {
  const def: AnyDef = (schema as AnyDef).def;
  const leaf = (avroSchema: unknown): Node => ({
    schema: avroSchema,
    toAvro: same,
    fromAvro: same,
    nullable: false,
  });
  switch (def.type) {
    case 'string':
      return leaf((schema as AnyDef).format === 'uuid' ? { type: 'string', logicalType: 'uuid' } : 'string');
    case 'number':
      return leaf((schema as AnyDef).isInt ? 'long' : 'double');
    case 'boolean':
      return leaf('boolean');
    case 'bigint':
      // The whole int64 range, exact (see long.ts); jsType is not part of the wire schema.
      return leaf({ type: 'long', jsType: 'bigint' });
    case 'date':
      return leaf({ type: 'long', logicalType: 'timestamp-millis' });
    case 'enum': {
      const symbols = Object.values(def.entries) as unknown[];
      const avroSafe = symbols.every((s) => typeof s === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s));
      return leaf(avroSafe ? { type: 'enum', name: `${name}Enum`, symbols } : 'string');
    }
    case 'literal': {
      const value = def.values[0];
      if (typeof value === 'string') return leaf('string');
      if (typeof value === 'boolean') return leaf('boolean');
      if (typeof value === 'number') return leaf(Number.isInteger(value) ? 'long' : 'double');
      break;
    }
    case 'array': {
      const items = derive(def.element, [...path, 0], `${name}Item`);
      return {
        schema: { type: 'array', items: items.schema },
        toAvro: (v) => (v as unknown[]).map(items.toAvro),
        fromAvro: (v) => (v as unknown[]).map(items.fromAvro),
        nullable: false,
      };
    }
    case 'record': {
      const values = derive(def.valueType, [...path, '*'], `${name}Value`);
      const mapValues = (fn: (v: unknown) => unknown) => (v: unknown) =>
        Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, fn(x)]));
      return {
        schema: { type: 'map', values: values.schema },
        toAvro: mapValues(values.toAvro),
        fromAvro: mapValues(values.fromAvro),
        nullable: false,
      };
    }
    case 'object': {
      const entries = Object.entries(def.shape as Record<string, z.ZodType>).map(([field, fieldSchema]) => ({
        field,
        node: derive(fieldSchema, [...path, field], `${name}_${field}`),
      }));
      return {
        schema: {
          type: 'record',
          name,
          fields: entries.map(({ field, node }) =>
            node.nullable
              ? { name: field, type: node.schema, default: null }
              : { name: field, type: node.schema },
          ),
        },
        toAvro: (v) => {
          const obj = v as Record<string, unknown>;
          const out: Record<string, unknown> = {};
          for (const { field, node } of entries) out[field] = node.toAvro(obj[field]);
          return out;
        },
        fromAvro: (v) => {
          const obj = v as Record<string, unknown>;
          const out: Record<string, unknown> = {};
          for (const { field, node } of entries) {
            const value = node.fromAvro(obj[field]);
            if (value !== undefined) out[field] = value;
          }
          return out;
        },
        nullable: false,
      };
    }
    case 'optional':
    case 'nullable': {
      const inner = derive(def.innerType, path, name);
      const innerSchema = Array.isArray(inner.schema)
        ? inner.schema.filter((s) => s !== 'null')
        : [inner.schema];
      const optional = def.type === 'optional';
      return {
        schema: ['null', ...innerSchema],
        toAvro: (v) => (v === undefined || v === null ? null : inner.toAvro(v)),
        // An optional field reads back as absent; a nullable one as null.
        fromAvro: (v) => (v === null ? (optional ? undefined : null) : inner.fromAvro(v)),
        nullable: true,
      };
    }
    case 'default':
    case 'prefault': {
      // zod applies the default before we encode, so the wire never sees a missing value.
      return derive(def.innerType, path, name);
    }
  }
  throw new ConfigError(
    `cannot derive an Avro type for zod "${def.type}" at ${formatPath(path)} of ${name.split('_')[0]} — use a supported type or write the contract as an Avro schema`,
  );
}
