import { createHash, randomUUID } from 'node:crypto';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { OutgoingMessage } from '@omnibus/core';

/**
 * How an event travels in an SQS message.
 *
 * - **Body**: the Avro bytes in base64 (SQS bodies are text): 4 bytes per 3, +33 %.
 * - **Message attributes** (SQS allows 10): up to 9 headers as `String` attributes, CloudEvents ones
 *   (`ce_id`, `ce_type`, `ce_source`, …) first, so they can be read in the console and by filters; the
 *   10th, `omnibus`, packs in JSON the event key and every header that did not fit or that SQS cannot carry
 *   as an attribute (an empty value, a name SQS refuses, characters outside its set), and the order
 *   of the headers (SQS returns attributes sorted by name).
 * - **MessageGroupId** (FIFO): the key when SQS accepts it (1–128 printable ASCII), else `sha256:` and the
 *   key's hash; a keyless event gets its own group (its id), so keyless events are not ordered.
 * - **MessageDeduplicationId** (FIFO): a hash of the key and the event id (`ce_id`): SQS drops a second
 *   message with the same key and id sent to the queue within 5 minutes (a publish retried after a lost
 *   reply is stored once).
 */
export const PACKED_ATTRIBUTE = 'omnibus';
const MAX_ATTRIBUTES = 10;
const FIRST = ['ce_id', 'ce_type', 'ce_source', 'ce_specversion', 'ce_time', 'content-type', 'ce_dataschema'];
const SQS_TEXT = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
const SQS_ID = /^[\x21-\x7e]{1,128}$/;
const STRING = 'String';

interface Packed {
  /** The event key. */
  k?: string;
  /** Headers not carried as attributes. */
  h?: Record<string, string>;
  /** Every header name in the publisher's order (SQS returns attributes sorted by name). */
  o?: string[];
}

/** The SendMessage fields of one message; `bytes` is its size as SQS counts it (body + attributes). */
export interface EncodedMessage {
  MessageBody: string;
  MessageAttributes: Record<string, MessageAttributeValue>;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
  bytes: number;
}

export function encodeMessage(message: OutgoingMessage, fifo: boolean): EncodedMessage {
  const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString(
    'base64',
  );
  const attributes: Record<string, MessageAttributeValue> = {};
  const rest: Record<string, string> = {};
  let bytes = body.length;
  let slots = MAX_ATTRIBUTES - 1;
  const names = Object.keys(message.headers).sort((a, b) => rank(a) - rank(b));
  for (const name of names) {
    const value = message.headers[name]!;
    if (slots > 0 && attributeName(name) && value !== '' && SQS_TEXT.test(value)) {
      attributes[name] = { DataType: STRING, StringValue: value };
      bytes += Buffer.byteLength(name) + STRING.length + Buffer.byteLength(value);
      slots--;
    } else rest[name] = value;
  }
  const packed: Packed = {};
  if (message.key !== undefined) packed.k = message.key;
  if (Object.keys(rest).length > 0) packed.h = rest;
  if (names.length > 1) packed.o = Object.keys(message.headers);
  if (packed.k !== undefined || packed.h) {
    // JSON.stringify escapes control characters and lone surrogates, so the value is always SQS text.
    const value = JSON.stringify(packed);
    attributes[PACKED_ATTRIBUTE] = { DataType: STRING, StringValue: value };
    bytes += PACKED_ATTRIBUTE.length + STRING.length + Buffer.byteLength(value);
  }
  const encoded: EncodedMessage = { MessageBody: body, MessageAttributes: attributes, bytes };
  if (fifo) {
    const id = message.headers.ce_id;
    encoded.MessageGroupId = message.key === undefined ? sqsId(id ?? randomUUID()) : sqsId(message.key);
    // Scoped by key: the same id under another key is another message (SQS's `messageGroup` deduplication
    // scope, which not every SQS-compatible server has); a retried publish has the same key and id.
    encoded.MessageDeduplicationId = createHash('sha256')
      .update(`${message.key ?? ''}\n${id ?? randomUUID()}`)
      .digest('base64url');
  }
  return encoded;
}

/** What a received message holds for the core. Never throws: what cannot be read reaches the core as is. */
export function decodeMessage(
  body: string | undefined,
  attributes: Record<string, MessageAttributeValue> | undefined,
): { key?: string; body: Uint8Array; headers: Record<string, string> } {
  let headers: Record<string, string> = {};
  let key: string | undefined;
  let order: string[] | undefined;
  for (const [name, attribute] of Object.entries(attributes ?? {})) {
    if (name === PACKED_ATTRIBUTE) {
      const packed = parsePacked(attribute.StringValue);
      if (packed) {
        key = packed.k;
        order = packed.o;
        Object.assign(headers, packed.h);
        continue;
      }
    }
    if (attribute.StringValue !== undefined) headers[name] = attribute.StringValue;
    else if (attribute.BinaryValue !== undefined)
      headers[name] = Buffer.from(attribute.BinaryValue).toString('base64');
  }
  if (order) headers = inOrder(headers, order);
  const text = body ?? '';
  // A body that is not strict base64 was not written by omnibus: its own bytes go to the core (which
  // dead-letters it as undecodable, keeping what was sent).
  const bytes = BASE64.test(text) ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  const decoded: { key?: string; body: Uint8Array; headers: Record<string, string> } = {
    body: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    headers,
  };
  if (key !== undefined) decoded.key = key;
  return decoded;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parsePacked(value: string | undefined): Packed | undefined {
  if (value === undefined) return undefined;
  try {
    const packed = JSON.parse(value) as unknown;
    if (typeof packed !== 'object' || packed === null) return undefined;
    const { k, h } = packed as Packed;
    if (k !== undefined && typeof k !== 'string') return undefined;
    const { o } = packed as Packed;
    if (o !== undefined && (!Array.isArray(o) || o.some((name) => typeof name !== 'string')))
      return undefined;
    if (
      h !== undefined &&
      (typeof h !== 'object' || h === null || Object.values(h).some((v) => typeof v !== 'string'))
    ) {
      return undefined;
    }
    return packed as Packed;
  } catch {
    return undefined;
  }
}

/** The headers in the publisher's order; any it did not list (added on the way) follow. */
function inOrder(headers: Record<string, string>, order: string[]): Record<string, string> {
  const ordered: Record<string, string> = {};
  for (const name of order) if (Object.hasOwn(headers, name)) ordered[name] = headers[name]!;
  for (const [name, value] of Object.entries(headers))
    if (!Object.hasOwn(ordered, name)) ordered[name] = value;
  return ordered;
}

function rank(name: string): number {
  const at = FIRST.indexOf(name);
  if (at >= 0) return at;
  return name.startsWith('ce_') ? FIRST.length : FIRST.length + 1;
}

/** Names SQS accepts for a message attribute (and not the packed one). */
function attributeName(name: string): boolean {
  return (
    name !== PACKED_ATTRIBUTE &&
    name.length <= 256 &&
    /^[A-Za-z0-9_.-]+$/.test(name) &&
    !/^(aws|amazon)\./i.test(name) &&
    !name.includes('..') &&
    !name.startsWith('.') &&
    !name.endsWith('.')
  );
}

/** A MessageGroupId / MessageDeduplicationId SQS accepts: the text itself, or its hash. */
function sqsId(text: string): string {
  return SQS_ID.test(text) ? text : `sha256:${createHash('sha256').update(text).digest('base64url')}`;
}
