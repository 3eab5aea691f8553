import { randomUUID } from 'node:crypto';

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

export function attributeHeaders(
  attrs: EventAttributes,
  writerSchemaJson: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    ce_id: attrs.id,
    ce_type: attrs.type,
    ce_source: attrs.source,
    ce_specversion: attrs.specversion,
    ce_time: attrs.time.toISOString(),
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
