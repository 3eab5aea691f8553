import { randomUUID } from 'node:crypto';
import { DecodeError } from './errors.ts';

/**
 * CloudEvents 1.0 attributes carried with every event. The core writes them under its own header names
 * (`ce_id`, `ce_type`, …, `content-type`: the Kafka binding's names); an adapter whose binding names them
 * differently renames them with {@link renameHeaders}.
 */
export interface EventAttributes {
  id: string;
  type: string;
  source: string;
  specversion: '1.0';
  time: Date;
  datacontenttype: string;
  dataschema: string;
}

export const CONTENT_TYPE = 'application/avro';
export const CE_PREFIX = 'ce_';
/** Extension attribute holding the writer schema so that older readers can resolve newer writers. */
export const WRITER_SCHEMA_HEADER = 'ce_omnibusschema';
const ATTRIBUTE_HEADERS = new Set([
  'ce_id',
  'ce_type',
  'ce_source',
  'ce_specversion',
  'ce_time',
  'ce_dataschema',
  'content-type',
  WRITER_SCHEMA_HEADER,
]);

/**
 * Room a transport must accept above `maxMessageBytes`: an event may be published right at the limit, and
 * its dead-letter copy carries the same bytes plus the dead-letter headers below.
 */
export const DEAD_LETTER_HEADROOM_BYTES = 4096;

/** Headers the core adds when it dead-letters an event, next to the original headers. */
export const DEAD_LETTER_HEADERS = {
  reason: 'omnibus-dead-letter-reason',
  error: 'omnibus-dead-letter-error',
  attempts: 'omnibus-dead-letter-attempts',
  group: 'omnibus-dead-letter-group',
  topic: 'omnibus-dead-letter-topic',
  time: 'omnibus-dead-letter-time',
} as const;

export function newEventId(): string {
  return randomUUID();
}

let isoMs = Number.NaN;
let iso = '';

/** `date.toISOString()`, or now's; now's is formatted once per millisecond, not once per event. */
export function isoTime(date?: Date): string {
  if (date) return date.toISOString();
  const ms = Date.now();
  if (ms !== isoMs) {
    iso = new Date(ms).toISOString();
    isoMs = ms;
  }
  return iso;
}

export function attributeHeaders(
  attrs: Omit<EventAttributes, 'time'> & { time: string },
  writerSchemaJson: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    ce_id: attrs.id,
    ce_type: attrs.type,
    ce_source: attrs.source,
    ce_specversion: attrs.specversion,
    ce_time: attrs.time,
    ce_dataschema: attrs.dataschema,
    'content-type': attrs.datacontenttype,
  };
  if (writerSchemaJson) headers[WRITER_SCHEMA_HEADER] = writerSchemaJson;
  return headers;
}

/** Splits received headers into CloudEvents attributes and the user's own headers. */
export function splitHeaders(headers: Record<string, string>): {
  attrs: Partial<Record<string, string>>;
  user: Record<string, string>;
} {
  const attrs: Record<string, string> = {};
  const user: Record<string, string> = {};
  // for…in over a plain record: no entry arrays per header (hot path: once per delivery).
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    if (ATTRIBUTE_HEADERS.has(name)) attrs[name] = headers[name]!;
    else if (!name.startsWith('omnibus-')) user[name] = headers[name]!;
  }
  return { attrs, user };
}

/** Structured content mode of CloudEvents (the JSON event format) — what binary-mode producers do not send. */
export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';
const STRUCTURED_ATTRIBUTES: Record<string, string> = {
  id: 'ce_id',
  type: 'ce_type',
  source: 'ce_source',
  specversion: 'ce_specversion',
  time: 'ce_time',
  dataschema: 'ce_dataschema',
  datacontenttype: 'content-type',
  omnibusschema: WRITER_SCHEMA_HEADER,
};

/**
 * A structured-mode event (`application/cloudevents+json`, e.g. from a CloudEvents SDK) as the binary
 * mode's parts: its attributes under the core's header names, its extension attributes as headers, and the
 * Avro single-object bytes from `data_base64`. JSON `data` is refused: omnibus events are Avro bytes.
 */
export function fromStructured(body: Uint8Array): {
  attrs: Record<string, string>;
  extensions: Record<string, string>;
  data: Uint8Array;
} {
  let event: unknown;
  try {
    event = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    throw new DecodeError(`a structured CloudEvent (${STRUCTURED_CONTENT_TYPE}) that is not JSON`);
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new DecodeError(`a structured CloudEvent (${STRUCTURED_CONTENT_TYPE}) that is not a JSON object`);
  }
  const attrs: Record<string, string> = {};
  const extensions: Record<string, string> = {};
  let data: Uint8Array | undefined;
  for (const [name, value] of Object.entries(event)) {
    if (name === 'data_base64') {
      if (typeof value === 'string') data = Buffer.from(value, 'base64');
      continue;
    }
    if (name === 'data') {
      throw new DecodeError(
        'a structured CloudEvent with JSON `data`: omnibus events are Avro single-object bytes, in `data_base64`',
      );
    }
    if (value === null || value === undefined) continue;
    const text =
      typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
    const header = STRUCTURED_ATTRIBUTES[name];
    if (header) attrs[header] = text;
    else extensions[name] = text;
  }
  if (!data)
    throw new DecodeError('a structured CloudEvent without `data_base64` (the Avro single-object bytes)');
  return { attrs, extensions, data };
}

/** Is `name` reserved for omnibus (users may not set it)? */
export function isReservedHeader(name: string): boolean {
  return name.startsWith(CE_PREFIX) || name === 'content-type' || name.startsWith('omnibus-');
}

/**
 * Renames the core's `ce_` headers for a binding with another prefix (AMQP uses `cloudEvents_`), and back.
 * `renameHeaders(h, 'ce_', 'cloudEvents_')` on publish, `renameHeaders(h, 'cloudEvents_', 'ce_')` on consume.
 */
export function renameHeaders(
  headers: Record<string, string>,
  from: string,
  to: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    out[name.startsWith(from) ? to + name.slice(from.length) : name] = headers[name]!;
  }
  return out;
}

/**
 * Size a message will take on the wire, roughly: body + header names and values + the key (UTF-8) — what
 * every broker counts against its message limit.
 */
export function encodedSize(body: Uint8Array, headers: Record<string, string>, key?: string): number {
  let size = body.byteLength + (key === undefined ? 0 : Buffer.byteLength(key));
  for (const name in headers) {
    if (Object.hasOwn(headers, name)) size += Buffer.byteLength(name) + Buffer.byteLength(headers[name]!);
  }
  return size;
}

interface Measured {
  body: Uint8Array;
  headers: Record<string, string>;
  key: string | undefined;
  headerChars: number;
  size: number;
}
/** Where a message keeps its measured size: a symbol, so no header loop, spread or JSON sees it. */
const MEASURED = Symbol('omnibus.measured');
type Measurable = { body: Uint8Array; headers: Record<string, string>; key?: string; [MEASURED]?: Measured };

/**
 * Records the {@link encodedSize} the bus computed for `message`, so that the transport's own check
 * ({@link sizeOf}) does not measure every header again. The record holds while the message keeps the same
 * body, key and headers object, and its header names and values the same length (a header added, removed or
 * resized after encoding is measured again).
 */
export function rememberSize(message: Measurable, size: number): void {
  message[MEASURED] = {
    body: message.body,
    headers: message.headers,
    key: message.key,
    headerChars: headerChars(message.headers),
    size,
  };
}

/** {@link encodedSize} of a message, from {@link rememberSize} when it still holds. */
export function sizeOf(message: Measurable): number {
  const known = message[MEASURED];
  if (
    known &&
    known.body === message.body &&
    known.headers === message.headers &&
    known.key === message.key &&
    known.headerChars === headerChars(message.headers)
  )
    return known.size;
  return encodedSize(message.body, message.headers, message.key);
}

/** Characters of the header names and values: a header added, removed or resized changes it. */
function headerChars(headers: Record<string, string>): number {
  let chars = 0;
  for (const name in headers) if (Object.hasOwn(headers, name)) chars += name.length + headers[name]!.length;
  return chars;
}
