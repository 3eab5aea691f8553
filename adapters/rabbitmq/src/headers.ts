import { randomUUID } from 'node:crypto';
import { renameHeaders } from '@omnibus/core';
import type { MessageProperties, Options } from 'amqplib';

// CloudEvents AMQP binding: attributes are application properties named `cloudEvents_<attr>`, and
// `datacontenttype` is the AMQP `content-type` property. The core speaks `ce_<attr>` + `content-type`.

/** The ordering key travels as the CloudEvents partitioning extension attribute. */
export const PARTITION_KEY_HEADER = 'cloudEvents_partitionkey';
const CORE_PREFIX = 'ce_';
const AMQP_PREFIX = 'cloudEvents_';
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
  const headers: Record<string, string> = renameHeaders(coreHeaders, CORE_PREFIX, AMQP_PREFIX);
  const contentType = headers['content-type'];
  delete headers['content-type'];
  if (key !== undefined) headers[PARTITION_KEY_HEADER] = key;
  const time = Date.parse(headers[`${AMQP_PREFIX}time`] ?? '');
  return {
    persistent: true,
    mandatory: true,
    headers,
    // Correlates a basic.return with its publish; the event id where there is one (what RabbitMQ tools show).
    messageId: headers[`${AMQP_PREFIX}id`] ?? randomUUID(),
    ...(contentType === undefined ? {} : { contentType }),
    ...(headers[`${AMQP_PREFIX}type`] === undefined ? {} : { type: headers[`${AMQP_PREFIX}type`] }),
    ...(Number.isNaN(time) ? {} : { timestamp: Math.floor(time / 1000) }),
  };
}

/** The core's view of a received message: `ce_` headers, `content-type`, the key apart. */
export function fromAmqpProperties(properties: MessageProperties): {
  headers: Record<string, string>;
  key?: string;
} {
  const amqpHeaders: Record<string, string> = {};
  let key: string | undefined;
  for (const [name, value] of Object.entries(properties.headers ?? {})) {
    if (BROKER_HEADERS.has(name) || value === undefined || value === null) continue;
    const text = headerText(value);
    if (name === PARTITION_KEY_HEADER) key = text;
    else amqpHeaders[name] = text;
  }
  const headers = renameHeaders(amqpHeaders, AMQP_PREFIX, CORE_PREFIX);
  if (typeof properties.contentType === 'string') headers['content-type'] = properties.contentType;
  return key === undefined ? { headers } : { headers, key };
}

/** Header values from other publishers may be numbers, booleans, bytes or tables: the core takes strings. */
function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
