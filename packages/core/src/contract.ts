import avro from 'avsc';
import type { z } from 'zod';
import type { AvroInput, AvroSchema, AvroValue } from './avro-types.ts';
import {
  ConfigError,
  DecodeError,
  IncompatibleSchemaError,
  ValidationError,
  type ValidationIssue,
} from './errors.ts';
import { rabinFingerprint } from './fingerprint.ts';
import { logicalTypes } from './logical-types.ts';
import { exactLongs } from './long.ts';
import { writeSingleObject } from './slab.ts';
import { zodToAvro } from './zod-avro.ts';

/** How every contract compiles its schemas: logical types, unions as plain values, exact longs. Fresh each
 * time: avsc keeps the named types it meets in the options' registry. */
const avroOptions = () =>
  ({ logicalTypes, wrapUnions: 'never', typeHook: exactLongs }) as Partial<avro.ForSchemaOptions>;

/**
 * An event contract: its CloudEvents `type`, version, topic and Avro schema, with the encoder and decoder
 * every publisher and subscriber of it shares. Create one with {@link defineEvent}.
 *
 * Wire format: Avro single-object encoding — `C3 01`, the writer schema's 8-byte CRC-64-AVRO fingerprint,
 * then the Avro binary body. A reader resolves older or newer writers through Avro schema resolution.
 */
export interface EventContract<T = unknown, In = T> {
  readonly type: string;
  readonly version: number;
  /** Where events of this type are published. @default the `type` */
  readonly topic: string;
  /** The writer schema in Avro Parsing Canonical Form. */
  readonly schemaJson: string;
  /**
   * The full writer schema: logical types (with a decimal's precision and scale), defaults and docs, which
   * the canonical form strips. Embedded in each event (`ce_omnibusschema`), so a reader that has only the
   * event reads timestamps as timestamps; the fingerprint is over its canonical form.
   */
  readonly writerSchemaJson: string;
  /** CRC-64-AVRO fingerprint of `schemaJson`, hex. */
  readonly fingerprint: string;
  /** Validates a payload; returns the value that will be encoded. Throws {@link ValidationError}. */
  validate(payload: In): T;
  /** Validates, then encodes in single-object encoding. */
  encode(payload: In): Buffer;
  /**
   * Decodes single-object bytes. Writers this contract knows (its own version and `previousVersions`) are
   * resolved directly; an unknown writer is resolved from `writerSchemaJson` when the message carried it.
   * Throws {@link DecodeError} when the bytes cannot be read as this event.
   */
  decode(bytes: Uint8Array, writerSchemaJson?: string): T;
  /** Type-only: the decoded event type. Use `EventOf<typeof Contract>`. */
  readonly __value?: T;
  /** Type-only: what `publish` accepts. Use `PayloadOf<typeof Contract>`. */
  readonly __input?: In;
}

/** The event type a contract's handlers receive. */
export type EventOf<C> = C extends EventContract<infer T, unknown> ? T : never;
/** The payload type a contract's `publish` accepts. */
export type PayloadOf<C> = C extends EventContract<unknown, infer In> ? In : never;

/** A schema declaration: either an Avro schema (write it `as const` for type inference) or a zod object. */
export type SchemaSource = { avro: AvroSchema; zod?: never } | { zod: z.ZodType; avro?: never };

/** How a new version must relate to the versions before it. @default 'backward' */
export type Compatibility = 'backward' | 'forward' | 'full' | 'none';

export interface EventDefinition {
  /** CloudEvents `type`, e.g. `shop.order.placed`. Also the default topic. */
  type: string;
  /** This contract's version (a positive integer). */
  version: number;
  /** Topic override. @default the `type` */
  topic?: string;
  /** Earlier versions this consumer can read, checked against `compatibility` at definition time. */
  previousVersions?: ({ version: number } & SchemaSource)[];
  /** Rule checked between this version and each of `previousVersions`. @default 'backward' */
  compatibility?: Compatibility;
  /**
   * Other writer schemas this consumer reads — e.g. a newer version that a producer which is not omnibus
   * writes without the writer-schema header (such an event is otherwise dead-lettered as an unknown
   * writer). Each must be readable by this version: checked at definition time, whatever `compatibility`.
   */
  acceptedWriters?: ({ version: number } & SchemaSource)[];
}

type Inferred<D> = D extends { zod: infer Z extends z.ZodType }
  ? EventContract<z.output<Z>, z.input<Z>>
  : D extends { avro: infer S }
    ? EventContract<AvroValue<S>, AvroInput<S>>
    : never;

const MAGIC = Buffer.from([0xc3, 0x01]);
const HEADER_BYTES = 10;
const MAX_LEARNED_WRITERS = 64;
const STRICT = { noUndeclaredFields: true };

interface Compiled {
  type: avro.Type;
  schemaJson: string;
  writerSchemaJson: string;
  fingerprint: string;
  toAvro: (v: unknown) => unknown;
  fromAvro: (v: unknown) => unknown;
  zod?: z.ZodType;
}

function compile(source: SchemaSource, recordName: string, where: string): Compiled {
  let schema: unknown;
  let toAvro = (v: unknown) => v;
  let fromAvro = (v: unknown) => v;
  if (source.zod) {
    const derived = zodToAvro(source.zod, recordName);
    schema = derived.schema;
    toAvro = derived.toAvro;
    fromAvro = derived.fromAvro;
  } else if (source.avro) {
    schema = source.avro;
  } else {
    throw new ConfigError(`${where}: give either \`avro\` (an Avro schema) or \`zod\` (a zod object)`);
  }
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(schema as avro.Schema, avroOptions());
  } catch (cause) {
    throw new ConfigError(`${where}: invalid Avro schema — ${(cause as Error).message}`, { cause });
  }
  if (type.typeName !== 'record') throw new ConfigError(`${where}: the event schema must be an Avro record`);
  const schemaJson = JSON.stringify(type.schema());
  return {
    type,
    schemaJson,
    writerSchemaJson: JSON.stringify(type.schema({ exportAttrs: true })),
    fingerprint: rabinFingerprint(schemaJson).toString('hex'),
    toAvro,
    fromAvro,
    zod: source.zod,
  };
}

/**
 * Checks whether data written with `writer` can be read with `reader` (Avro schema resolution).
 * Returns `{ compatible: true }` or `{ compatible: false, reason }`; never throws for incompatibility.
 */
export function checkCompatibility(
  reader: SchemaSource,
  writer: SchemaSource,
): { compatible: boolean; reason?: string } {
  const r = compile(reader, 'Event', 'reader');
  const w = compile(writer, 'Event', 'writer');
  try {
    r.type.createResolver(w.type);
    return { compatible: true };
  } catch (error) {
    return { compatible: false, reason: (error as Error).message };
  }
}

/**
 * Declares an event contract. The payload type is inferred from the Avro schema (declared `as const`) or
 * from the zod schema; wrong payloads are compile errors and, at run time, {@link ValidationError}s.
 */
export function defineEvent<const D extends EventDefinition & SchemaSource>(definition: D): Inferred<D> {
  const { type: eventType, version } = definition;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(eventType ?? '')) {
    throw new ConfigError(`defineEvent: type "${eventType}" must be letters, digits, '.', '_' or '-'`);
  }
  if (!Number.isInteger(version) || version < 1) {
    throw new ConfigError(`defineEvent(${eventType}): version must be a positive integer, got ${version}`);
  }
  const recordName = pascalCase(eventType.split('.').pop() ?? 'Event');
  const current = compile(definition, recordName, `defineEvent(${eventType} v${version})`);
  const mode = definition.compatibility ?? 'backward';
  const writers = new Map<string, { compiled: Compiled; resolver: avro.Resolver }>();
  writers.set(current.fingerprint, {
    compiled: current,
    resolver: current.type.createResolver(current.type),
  });

  for (const previous of definition.previousVersions ?? []) {
    const where = `defineEvent(${eventType} v${previous.version})`;
    const old = compile(previous, recordName, where);
    const problems: string[] = [];
    let resolver: avro.Resolver | undefined;
    try {
      resolver = current.type.createResolver(old.type);
    } catch (error) {
      if (mode === 'backward' || mode === 'full')
        problems.push(`v${version} cannot read v${previous.version}: ${(error as Error).message}`);
    }
    if (mode === 'forward' || mode === 'full') {
      try {
        old.type.createResolver(current.type);
      } catch (error) {
        problems.push(`v${previous.version} cannot read v${version}: ${(error as Error).message}`);
      }
    }
    if (problems.length > 0) {
      throw new IncompatibleSchemaError(
        `${eventType}: ${mode} compatibility broken — ${problems.join('; ')}`,
      );
    }
    if (resolver) writers.set(old.fingerprint, { compiled: old, resolver });
  }
  for (const accepted of definition.acceptedWriters ?? []) {
    const writer = compile(
      accepted,
      recordName,
      `defineEvent(${eventType} accepted writer v${accepted.version})`,
    );
    try {
      writers.set(writer.fingerprint, {
        compiled: writer,
        resolver: current.type.createResolver(writer.type),
      });
    } catch (error) {
      throw new IncompatibleSchemaError(
        `${eventType}: v${version} cannot read the accepted writer v${accepted.version}: ${(error as Error).message}`,
      );
    }
  }

  const learned = new Map<string, avro.Resolver | DecodeError>();
  const header = Buffer.concat([MAGIC, Buffer.from(current.fingerprint, 'hex')]);
  const ownLow = header.readUInt32LE(2);
  const ownHigh = header.readUInt32LE(6);

  const validate = (payload: unknown): unknown => {
    if (current.zod) {
      const result = current.zod.safeParse(payload);
      if (!result.success) {
        throw new ValidationError(
          eventType,
          result.error.issues.map((i) => ({
            path: i.path.filter((p) => typeof p !== 'symbol') as (string | number)[],
            message: i.message,
          })),
        );
      }
      return result.data;
    }
    // The compiled check first; the walk that names each problem only for a payload that fails it.
    if (current.type.isValid(payload, STRICT)) return payload;
    const issues: ValidationIssue[] = [];
    current.type.isValid(payload, {
      noUndeclaredFields: true,
      errorHook: (path, value, type) => issues.push(describeAvroIssue(path, value, type)),
    });
    throw new ValidationError(
      eventType,
      issues.length > 0 ? issues : [{ path: [], message: 'does not match the schema' }],
    );
  };

  const resolverFor = (fingerprint: string, writerSchemaJson?: string): avro.Resolver => {
    const known = writers.get(fingerprint);
    if (known) return known.resolver;
    const cached = learned.get(fingerprint);
    if (cached instanceof DecodeError) throw cached;
    if (cached) return cached;
    if (!writerSchemaJson) {
      throw new DecodeError(
        `${eventType}: unknown writer schema ${fingerprint} — the producer uses a version this consumer does not know (add it to previousVersions or acceptedWriters, or let producers embed the writer schema)`,
      );
    }
    let outcome: avro.Resolver | DecodeError;
    try {
      const writer = avro.Type.forSchema(JSON.parse(writerSchemaJson), avroOptions());
      const actual = rabinFingerprint(JSON.stringify(writer.schema())).toString('hex');
      outcome =
        actual === fingerprint
          ? current.type.createResolver(writer)
          : new DecodeError(
              `${eventType}: the embedded writer schema does not match fingerprint ${fingerprint}`,
            );
    } catch (cause) {
      outcome = new DecodeError(
        `${eventType} v${version} cannot read writer ${fingerprint}: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (learned.size >= MAX_LEARNED_WRITERS) learned.delete(learned.keys().next().value!);
    learned.set(fingerprint, outcome);
    if (outcome instanceof DecodeError) throw outcome;
    return outcome;
  };

  const contract: EventContract = {
    type: eventType,
    version,
    topic: definition.topic ?? eventType,
    schemaJson: current.schemaJson,
    writerSchemaJson: current.writerSchemaJson,
    fingerprint: current.fingerprint,
    validate,
    encode(payload) {
      return writeSingleObject(current.type, header, current.toAvro(validate(payload)));
    },
    decode(bytes, writerSchemaJson) {
      const buffer = Buffer.isBuffer(bytes)
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (buffer.length < HEADER_BYTES || buffer[0] !== 0xc3 || buffer[1] !== 0x01) {
        throw new DecodeError(`${eventType}: not an Avro single-object message (bad magic bytes)`);
      }
      // This version's own writer (nearly every event) is read as it is, with no lookup by hex string.
      const own = buffer.readUInt32LE(2) === ownLow && buffer.readUInt32LE(6) === ownHigh;
      const resolver = own
        ? undefined
        : resolverFor(buffer.toString('hex', 2, HEADER_BYTES), writerSchemaJson);
      let value: unknown;
      try {
        value = current.type.fromBuffer(buffer.subarray(HEADER_BYTES), resolver);
      } catch (cause) {
        // A long beyond what a number holds exactly is no corruption: the message says what to declare.
        const what = cause instanceof RangeError ? '' : 'corrupt Avro body — ';
        throw new DecodeError(`${eventType}: ${what}${(cause as Error).message}`, { cause });
      }
      const decoded = current.fromAvro(value);
      if (current.zod) {
        const result = current.zod.safeParse(decoded);
        if (!result.success) {
          throw new DecodeError(
            `${eventType}: decoded event fails its contract — ${result.error.issues.map((i) => i.message).join('; ')}`,
          );
        }
        return result.data;
      }
      return decoded;
    },
  };
  return Object.freeze(contract) as never;
}

function describeAvroIssue(path: string[], value: unknown, type: avro.Type): ValidationIssue {
  const typedPath = path.map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  if (type.typeName === 'record' && value !== null && typeof value === 'object') {
    const declared = new Set((type as unknown as { fields: { name: string }[] }).fields.map((f) => f.name));
    const extra = Object.keys(value).filter((k) => !declared.has(k));
    if (extra.length > 0) return { path: typedPath, message: `unexpected field(s) ${extra.join(', ')}` };
  }
  const expected = type.typeName.startsWith('logical:') ? type.typeName.slice(8) : type.typeName;
  const got =
    value === undefined
      ? 'nothing'
      : value === null
        ? 'null'
        : Array.isArray(value)
          ? 'an array'
          : typeof value;
  return { path: typedPath, message: `expected ${expected}, got ${got}` };
}

function pascalCase(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) =>
    c ? c.toUpperCase() : '',
  );
  const name = cleaned.charAt(0).toUpperCase() + cleaned.slice(1);
  return /^[A-Za-z_]/.test(name) ? name : `E${name}`;
}
