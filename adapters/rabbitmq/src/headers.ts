import { randomUUID } from 'node:crypto';
import type { MessageProperties, Options } from 'amqplib';

// CloudEvents AMQP binding: attributes are application properties named `cloudEvents_<attr>`, and
// `datacontenttype` is the AMQP `content-type` property. The core speaks `ce_<attr>` + `content-type`.

/** The ordering key travels as the CloudEvents partitioning extension attribute. */
export const PARTITION_KEY_HEADER = 'cloudEvents_partitionkey';
const CORE_PREFIX = 'ce_';
const AMQP_PREFIX = 'cloudEvents_';
/** The binding's own example names attributes `cloudEvents:<attr>`; received either way. */
const AMQP_COLON_PREFIX = 'cloudEvents:';
const AMQP_ID = `${AMQP_PREFIX}id`;
const AMQP_TYPE = `${AMQP_PREFIX}type`;
const AMQP_TIME = `${AMQP_PREFIX}time`;

/**
 * `ce_x` → `cloudEvents_x`, memoized: a concatenated name would be hashed anew as a property key on every
 * publish. Bounded, since header names come from publishers.
 */
const amqpNames = new Map<string, string>();
function toAmqpName(name: string): string {
  let out = amqpNames.get(name);
  if (out === undefined) {
    out = AMQP_PREFIX + name.slice(CORE_PREFIX.length);
    if (amqpNames.size >= 1024) amqpNames.clear();
    amqpNames.set(name, out);
  }
  return out;
}

/** `cloudEvents_x` (or `cloudEvents:x`) → `ce_x`, memoized like {@link toAmqpName}. */
const coreNames = new Map<string, string>();
function toCoreName(name: string): string {
  let out = coreNames.get(name);
  if (out === undefined) {
    out = CORE_PREFIX + name.slice(AMQP_PREFIX.length); // both prefixes are 12 characters
    if (coreNames.size >= 1024) coreNames.clear();
    coreNames.set(name, out);
  }
  return out;
}

/** Headers the broker adds that are not the event's. */
const BROKER_HEADERS = new Set([
  'x-delivery-count',
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
]);

/** AMQP publish properties for one outgoing message: persistent, mandatory, CloudEvents AMQP names. */
export function toAmqpProperties(
  coreHeaders: Record<string, string>,
  key: string | undefined,
): Options.Publish {
  // One pass (hot path: once per publish): rename `ce_` headers and lift `content-type` out, without
  // building an intermediate copy or deleting from the result (which would slow amqplib's table encoding).
  const headers: Record<string, string> = {};
  let contentType: string | undefined;
  for (const name in coreHeaders) {
    if (!Object.hasOwn(coreHeaders, name)) continue;
    const value = coreHeaders[name]!;
    if (name === 'content-type') contentType = value;
    else headers[name.startsWith(CORE_PREFIX) ? toAmqpName(name) : name] = value;
  }
  if (key !== undefined) headers[PARTITION_KEY_HEADER] = key;
  const id = headers[AMQP_ID];
  const type = headers[AMQP_TYPE];
  const time = Date.parse(headers[AMQP_TIME] ?? '');
  const properties: Options.Publish = {
    persistent: true,
    mandatory: true,
    headers,
    // Correlates a basic.return with its publish; the event id where there is one (what RabbitMQ tools show).
    messageId: id ?? randomUUID(),
  };
  if (contentType !== undefined) properties.contentType = contentType;
  if (type !== undefined) properties.type = type;
  if (!Number.isNaN(time)) properties.timestamp = Math.floor(time / 1000);
  return properties;
}

/** The core's view of a received message: `ce_` headers, `content-type`, the key apart. */
export function fromAmqpProperties(properties: MessageProperties): {
  headers: Record<string, string>;
  key?: string;
} {
  // One pass (hot path: once per delivery): skip broker headers, lift the key out, rename to `ce_`.
  const headers: Record<string, string> = {};
  let key: string | undefined;
  const amqpHeaders = properties.headers;
  if (amqpHeaders) {
    for (const name in amqpHeaders) {
      if (!Object.hasOwn(amqpHeaders, name)) continue;
      const value: unknown = amqpHeaders[name];
      if (BROKER_HEADERS.has(name) || value === undefined || value === null) continue;
      const attribute = name.startsWith(AMQP_PREFIX) || name.startsWith(AMQP_COLON_PREFIX);
      const text = headerText(value, attribute);
      if (name === PARTITION_KEY_HEADER || name === 'cloudEvents:partitionkey') key = text;
      else headers[attribute ? toCoreName(name) : name] = text;
    }
  }
  if (typeof properties.contentType === 'string') headers['content-type'] = properties.contentType;
  return key === undefined ? { headers } : { headers, key };
}

/**
 * Header values from other publishers may be AMQP-typed: the core takes strings. CloudEvents attributes get
 * the canonical string forms of the AMQP binding's type mapping (a timestamp as RFC 3339 — how a
 * `cloudEvents_time` of AMQP type timestamp arrives; binary as base64); other headers bytes as UTF-8 text.
 */
function headerText(value: unknown, attribute: boolean): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString(attribute ? 'base64' : 'utf8');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null && '!' in value) {
    // amqplib's typed values: { '!': 'timestamp', value: seconds }, { '!': 'decimal', value: { places, digits } }
    const typed = value as { '!': string; value: unknown };
    if (typed['!'] === 'timestamp' && typeof typed.value === 'number') {
      return new Date(typed.value * 1000).toISOString();
    }
    if (typed['!'] === 'decimal') {
      const { places, digits } = typed.value as { places: number; digits: number };
      const text = String(digits).padStart(places + 1, '0');
      return places > 0 ? `${text.slice(0, -places)}.${text.slice(-places)}` : text;
    }
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
