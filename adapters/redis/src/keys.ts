import type { OutgoingMessage } from '@omnibus/core';

/**
 * Key layout. Every key of one partition shares the hash tag `{<topic>:<p>}`, so the scripts that touch a
 * partition's stream and lease run on one Redis Cluster node; a topic's own keys share `{<topic>}`.
 *
 *   <prefix>:{<topic>:<p>}                 partition stream p (0 … partitions − 1); one consumer group per omnibus group
 *   <prefix>:{<topic>:<p>}:lease:<group>   the group's lease on partition p: the consumer allowed to read it
 *   <prefix>:{<topic>}:members:<group>     sorted set: live instances of the group → expiry (Redis time, ms)
 *   <prefix>:{<topic>}:meta                hash: `partitions` (the count every service must share)
 *   <prefix>:{<topic>}:groups              set: the groups provisioned on the topic (for deleteTopic)
 *
 * `{`, `}` and `%` in topic names are percent-encoded, so a topic cannot end its own hash tag early.
 */
export class TopicKeys {
  readonly topic: string;
  readonly #base: string;
  readonly #tag: string;

  constructor(prefix: string, topic: string) {
    this.topic = topic;
    this.#tag = topic.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    this.#base = prefix;
  }

  stream(partition: number): string {
    return `${this.#base}:{${this.#tag}:${partition}}`;
  }

  lease(partition: number, group: string): string {
    return `${this.stream(partition)}:lease:${group}`;
  }

  members(group: string): string {
    return `${this.#base}:{${this.#tag}}:members:${group}`;
  }

  get meta(): string {
    return `${this.#base}:{${this.#tag}}:meta`;
  }

  get groups(): string {
    return `${this.#base}:{${this.#tag}}:groups`;
  }
}

/**
 * Stream entry fields: `b` the body (bytes as they are), `k` the key (UTF-8, absent for keyless events), then
 * the headers, in one of two layouts:
 * - `json` (the default): one field `h`, a JSON object of header name → value. Three fields an entry, so
 *   an XADD and an XREADGROUP reply carry 6 bulk strings instead of ~20: it is what the driver's time per event
 *   goes by;
 * - `fields`: one `h:<name>` field per header (UTF-8 value), the layout of @omnibus/redis 0.1: for a
 *   publisher whose consumers still run that version.
 * Consumers read both, in the same entry too (`h:<name>` fields win over `h`).
 */
const BODY = 'b';
const KEY = 'k';
const HEADERS = 'h';
const HEADER = 'h:';
/** Set on a delivery whose entry lacked fields: the core's dead letter then says what was wrong. */
export const MALFORMED_HEADER = 'omnibus-redis-malformed';

export type HeaderLayout = 'json' | 'fields';

export function encodeFields(message: OutgoingMessage, layout: HeaderLayout): (string | Buffer)[] {
  const { body, headers } = message;
  const fields: (string | Buffer)[] = [
    BODY,
    Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
  ];
  if (message.key !== undefined) fields.push(KEY, message.key);
  if (layout === 'json') {
    fields.push(HEADERS, JSON.stringify(headers));
    return fields;
  }
  for (const name in headers) {
    if (Object.hasOwn(headers, name)) fields.push(HEADER + name, headers[name]!);
  }
  return fields;
}

/**
 * Bytes an entry adds beyond what `assertPublishable` measures (body, key, header names and values): field
 * names. `maxMessageBytes` counts what the event holds, not how a layout frames it (JSON's quotes and escapes).
 */
export function fieldOverhead(message: OutgoingMessage, layout: HeaderLayout): number {
  const names = 1 + (message.key === undefined ? 0 : 1);
  if (layout === 'json') return names + 1;
  let headerNames = 0;
  for (const name in message.headers) if (Object.hasOwn(message.headers, name)) headerNames += 2;
  return names + headerNames;
}

export interface DecodedEntry {
  key: string | undefined;
  body: Uint8Array;
  headers: Record<string, string>;
}

const EMPTY = new Uint8Array(0);

/**
 * Reads entries' fields (Buffers, name/value pairs). What it cannot read is handed on and named in a header.
 * One per subscription: consecutive entries repeat their header names and most values (type, source,
 * schema), so a header field whose bytes equal those at the same position of the previous entry reuses its
 * string instead of decoding (and allocating) it again for every event.
 */
export class FieldDecoder {
  readonly #bytes: Buffer[] = [];
  readonly #texts: string[] = [];

  decode(id: string, fields: Buffer[] | null | undefined): DecodedEntry {
    let key: string | undefined;
    let body: Uint8Array | undefined;
    let packed: Buffer | undefined;
    const headers: Record<string, string> = {};
    const list = fields ?? [];
    for (let i = 0; i + 1 < list.length; i += 2) {
      const name = list[i]!;
      const value = list[i + 1]!;
      if (name.length === 1 && name[0] === 0x62) body = value;
      else if (name.length === 1 && name[0] === 0x6b) key = value.toString();
      else if (name.length === 1 && name[0] === 0x68) packed = value;
      else if (name.length > 2 && name[0] === 0x68 && name[1] === 0x3a)
        headers[this.#text(i, name, 2)] = this.#text(i + 1, value, 0);
    }
    if (packed !== undefined) unpack(id, packed, headers);
    if (body === undefined) {
      headers[MALFORMED_HEADER] =
        `stream entry ${id} has no "${BODY}" (body) field — was it written by omnibus?`;
    }
    return { key, body: body ?? EMPTY, headers };
  }

  /** `bytes` from `start` as UTF-8: the previous entry's string when its field at `slot` had the same bytes. */
  #text(slot: number, bytes: Buffer, start: number): string {
    const known = this.#bytes[slot];
    if (known !== undefined && known.length === bytes.length && known.equals(bytes))
      return this.#texts[slot]!;
    const text = bytes.toString('utf8', start);
    this.#bytes[slot] = bytes;
    this.#texts[slot] = text;
    return text;
  }
}

/**
 * Adds the headers of an `h` field to `headers` (`h:<name>` fields of the same entry, already there, win).
 * Text that is not a JSON object of strings adds nothing but the malformed header, which quotes it: the
 * core dead-letters the event (it lacks its CloudEvents attributes), body and text intact.
 */
function unpack(id: string, packed: Buffer, headers: Record<string, string>): void {
  const text = packed.toString();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (
    parsed !== null &&
    typeof parsed === 'object' &&
    !Array.isArray(parsed) &&
    Object.values(parsed).every((value) => typeof value === 'string')
  ) {
    for (const [name, value] of Object.entries(parsed as Record<string, string>))
      if (!Object.hasOwn(headers, name)) headers[name] = value;
    return;
  }
  headers[MALFORMED_HEADER] =
    `stream entry ${id} has an "${HEADERS}" field that is not a JSON object of string values: ${text}`;
}
