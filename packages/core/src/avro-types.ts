/**
 * Compile-time mapping from an Avro schema written `as const` to the TypeScript type of its values.
 * No code generation: `AvroValue<typeof schema>` is the decoded type, `AvroInput<typeof schema>` the type
 * `publish` accepts (fields that have a `default` may be omitted).
 *
 * Mapping: null→null, boolean→boolean, int/long/float/double→number (a long exact for safe integers;
 * `{ type: 'long', jsType: 'bigint' }`→bigint, the whole int64 range), string→string, bytes/fixed→Uint8Array,
 * enum→union of its symbols, array→T[], map→Record<string, T>, union→union of branches,
 * record→object. Logical types: timestamp-millis, timestamp-micros, date→Date; uuid→string;
 * decimal→string (exact, e.g. "12.30"). A reference to a named type by name maps to `unknown`.
 */
export type AvroSchema =
  | string
  | readonly AvroSchema[]
  | { readonly type: unknown; readonly [k: string]: unknown };

type Primitive<T> = T extends 'null'
  ? null
  : T extends 'boolean'
    ? boolean
    : T extends 'int' | 'long' | 'float' | 'double'
      ? number
      : T extends 'string'
        ? string
        : T extends 'bytes'
          ? Uint8Array
          : unknown;

type Logical<L, Base> = L extends 'timestamp-millis' | 'timestamp-micros' | 'date'
  ? Date
  : L extends 'uuid' | 'decimal'
    ? string
    : Base;

type Field = { readonly name: string; readonly type: unknown; readonly default?: unknown };

type RecordValue<F extends readonly Field[], Input extends boolean> = Input extends true
  ? Simplify<
      {
        -readonly [K in F[number] as K extends { default: unknown } ? never : K['name']]: Value<
          K['type'],
          true
        >;
      } & {
        -readonly [K in F[number] as K extends { default: unknown } ? K['name'] : never]?: Value<
          K['type'],
          true
        >;
      }
    >
  : { -readonly [K in F[number] as K['name']]: Value<K['type'], false> };

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** Internal: `Input` selects whether defaulted record fields are optional. */
export type Value<S, Input extends boolean> = S extends string
  ? Primitive<S>
  : S extends readonly unknown[]
    ? Value<S[number], Input>
    : S extends { readonly type: 'long'; readonly jsType: 'bigint' }
      ? bigint
      : S extends { readonly logicalType: infer L; readonly type: infer B }
        ? Logical<L, Value<B, Input>>
        : S extends { readonly type: 'record' | 'error'; readonly fields: infer F extends readonly Field[] }
          ? RecordValue<F, Input>
          : S extends { readonly type: 'enum'; readonly symbols: readonly (infer Sym)[] }
            ? Sym
            : S extends { readonly type: 'array'; readonly items: infer I }
              ? Input extends true
                ? readonly Value<I, Input>[]
                : Value<I, Input>[]
              : S extends { readonly type: 'map'; readonly values: infer V }
                ? Record<string, Value<V, Input>>
                : S extends { readonly type: 'fixed' }
                  ? Uint8Array
                  : S extends { readonly type: infer T extends string }
                    ? Primitive<T>
                    : unknown;

/** The decoded value of an Avro schema declared `as const`. */
export type AvroValue<S> = Value<S, false>;
/** What `publish` accepts for an Avro schema declared `as const`: defaulted fields are optional. */
export type AvroInput<S> = Value<S, true>;
