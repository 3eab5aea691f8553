import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '@omnibus/core';
import type { HeaderLayout } from './keys.ts';

/** Settings of the Redis adapter. Every field but `tls` options can be set in the URL (see {@link parseRedisUrl}). */
export interface RedisOptions {
  /**
   * Servers as `host:port`: one for a standalone Redis, the seed nodes for a Redis Cluster
   * (`redis://h1:7001,h2:7002?cluster=true`).
   * @default ['127.0.0.1:6379']
   */
  hosts: string[];
  /** Talk to a Redis Cluster (hash-slot routing, MOVED/ASK). URL: `cluster`. @default false, true when several hosts are given */
  cluster: boolean;
  /** TLS: `true` for the system CAs (`rediss://`), or Node `tls.connect` options (CA, client certificate). @default false */
  tls: boolean | ConnectionOptions;
  /** ACL user (`redis://user:password@host`). @default undefined (the `default` user) */
  username: string | undefined;
  /** Password (`redis://:password@host`). Never printed. @default undefined */
  password: string | undefined;
  /** Database index (`redis://host:6379/2`); a Redis Cluster has only 0. @default 0 */
  db: number;
  /** First part of every key the adapter writes, so several applications can share one Redis. URL: `prefix`. @default 'omnibus' */
  prefix: string;
  /**
   * Partition streams per topic. A key's events go to stream `fnv1a(key) mod partitions` and one instance
   * of a group reads a partition at a time, so this bounds how many instances of a group share the work.
   * Every service publishing to or consuming a topic must use the same number: the first one records it
   * on the topic and the others are refused with a ConfigError. URL: `partitions`.
   * @default 16
   */
  partitions: number;
  /**
   * Most entries one partition stream may hold. Entries every group has acknowledged are trimmed anyway;
   * when a stream is this long and a group has not acknowledged its oldest entries, a publish to it is
   * refused with {@link RedisStreamFullError} instead of trimming entries a group still needs.
   * URL: `maxLen`.
   * @default undefined (no limit: a lagging group makes the stream grow)
   */
  maxLen: number | undefined;
  /**
   * Where a group created by `provision` starts: the oldest entry the stream still holds (`true`), or
   * the end of the stream (`false`). URL: `fromBeginning`.
   * @default true
   */
  fromBeginning: boolean;
  /**
   * How long an instance owns a partition without renewing its lease. An instance that dies (SIGKILL,
   * lost network) hands its partitions to the others after this long; a live one renews every
   * `heartbeatIntervalMs`. URL: `leaseMs`.
   * @default 10000
   */
  leaseMs: number;
  /** How often an instance renews its leases and reads the group's member list. URL: `heartbeatIntervalMs`. @default 1000 */
  heartbeatIntervalMs: number;
  /**
   * How soon a partition stream with nothing new is read again on a Redis Cluster, doubling per empty
   * read up to 16× (1.6 s by default). On a standalone Redis a blocking XREAD on a second connection wakes
   * the reader at once instead. URL: `pollIntervalMs`.
   * @default 100
   */
  pollIntervalMs: number;
  /**
   * How an entry holds the headers: `json`, one field `h` with a JSON object (3 fields an entry: what the
   * driver's time per event goes by), or `fields`, one `h:<name>` field per header — the layout of
   * @omnibus/redis 0.1, for a publisher whose consumers still run it. Consumers read both. URL: `headers`.
   * @default 'json'
   */
  headers: HeaderLayout;
  /** Largest event (body + header names and values) the adapter accepts. URL: `maxMessageBytes`. @default 1048576 */
  maxMessageBytes: number;
  /** Time to open the TCP (and TLS) connection and log in. URL: `connectTimeoutMs`. @default 5000 */
  connectTimeoutMs: number;
}

export const DEFAULT_OPTIONS: Readonly<RedisOptions> = Object.freeze({
  hosts: ['127.0.0.1:6379'],
  cluster: false,
  tls: false,
  username: undefined,
  password: undefined,
  db: 0,
  prefix: 'omnibus',
  partitions: 16,
  maxLen: undefined,
  fromBeginning: true,
  leaseMs: 10_000,
  heartbeatIntervalMs: 1_000,
  pollIntervalMs: 100,
  headers: 'json',
  maxMessageBytes: 1_048_576,
  connectTimeoutMs: 5_000,
});

const INTEGER_PARAMS = [
  'partitions',
  'maxLen',
  'leaseMs',
  'heartbeatIntervalMs',
  'pollIntervalMs',
  'maxMessageBytes',
  'connectTimeoutMs',
] as const;
const BOOLEAN_PARAMS = ['cluster', 'fromBeginning', 'tls'] as const;
const LAYOUTS: readonly HeaderLayout[] = ['json', 'fields'];
const KNOWN = ['prefix', 'headers', ...INTEGER_PARAMS, ...BOOLEAN_PARAMS].join(', ');
const URL_SHAPE = /^(rediss?):\/\/(?:([^/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?(?:#.*)?$/i;

/**
 * Reads `redis://[[user]:password@]host[:6379][,host2:port…][/db][?partitions=…&maxLen=…]`; `rediss://`
 * turns TLS on. The raw text is parsed by hand: WHATWG `URL` rejects host lists. `overrides` win over the URL.
 */
export function parseRedisUrl(input: string | URL, overrides: Partial<RedisOptions> = {}): RedisOptions {
  const text = String(input);
  const match = URL_SHAPE.exec(text);
  if (!match) {
    throw new ConfigError(
      `${redactRedisUrl(text)} is not a redis:// URL — expected redis://[:password@]host:6379[/db][?options]`,
    );
  }
  const [, scheme = 'redis', userinfo, hostList = '', path = '', query = ''] = match;
  const options: RedisOptions = { ...DEFAULT_OPTIONS, tls: scheme.toLowerCase() === 'rediss' };
  const hosts = hostList
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  if (hosts.length > 0) options.hosts = hosts.map((h) => withPort(h, text));
  options.cluster = options.hosts.length > 1;
  if (path) options.db = integer('db (the URL path)', path, text);
  for (const [name, value] of new URLSearchParams(query)) {
    if (name === 'prefix') options.prefix = value;
    else if (name === 'headers') options.headers = value as HeaderLayout;
    else if ((INTEGER_PARAMS as readonly string[]).includes(name)) {
      options[name as (typeof INTEGER_PARAMS)[number]] = integer(name, value, text);
    } else if ((BOOLEAN_PARAMS as readonly string[]).includes(name)) {
      options[name as (typeof BOOLEAN_PARAMS)[number]] = boolean(name, value);
    } else {
      throw new ConfigError(`unknown redis URL parameter "${name}" — known: ${KNOWN}`);
    }
  }
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), text);
    // `redis://secret@host` is how many tools write a password without a user.
    if (colon < 0) options.password = user;
    else {
      options.username = user || undefined;
      options.password = decode(userinfo.slice(colon + 1), text) || undefined;
    }
  }
  Object.assign(options, overrides);
  validate(options);
  return options;
}

function withPort(host: string, text: string): string {
  if (/^\[[^\]]+\](:\d+)?$/.test(host)) return host.includes(']:') ? host : `${host}:6379`;
  const parts = host.split(':');
  if (parts.length > 2 || (parts[1] !== undefined && !/^\d{1,5}$/.test(parts[1]))) {
    throw new ConfigError(`redis URL ${redactRedisUrl(text)} has an unreadable host "${host}"`);
  }
  return parts.length === 2 ? host : `${host}:6379`;
}

function integer(name: string, value: string, text: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || value.trim() === '') {
    throw new ConfigError(`redis URL ${redactRedisUrl(text)}: ${name}=${value} is not an integer`);
  }
  return n;
}

function boolean(name: string, value: string): boolean {
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(`redis URL parameter ${name}=${value} is not true or false`);
}

function decode(part: string, text: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`redis URL ${redactRedisUrl(text)} has a badly percent-encoded user or password`);
  }
}

function validate(o: RedisOptions): void {
  const positive = INTEGER_PARAMS.filter((name) => name !== 'maxLen');
  for (const name of positive) {
    if (!((o[name] ?? 0) > 0))
      throw new ConfigError(`redis option ${name} must be a positive number, got ${o[name]}`);
  }
  if (o.maxLen !== undefined && !(o.maxLen > 0)) {
    throw new ConfigError(`redis option maxLen must be a positive number of entries, got ${o.maxLen}`);
  }
  if (o.db < 0) throw new ConfigError(`redis database index must be 0 or more, got ${o.db}`);
  if (o.cluster && o.db !== 0) {
    throw new ConfigError(`a Redis Cluster has only database 0; the URL asks for database ${o.db}`);
  }
  if (o.heartbeatIntervalMs * 3 > o.leaseMs) {
    throw new ConfigError(
      `redis option heartbeatIntervalMs (${o.heartbeatIntervalMs}) must be at most a third of leaseMs (${o.leaseMs}), so a live instance renews its leases in time`,
    );
  }
  if (!LAYOUTS.includes(o.headers)) {
    throw new ConfigError(`redis option headers must be ${LAYOUTS.join(' or ')}, got "${o.headers}"`);
  }
  if (!o.prefix || /[{}]/.test(o.prefix)) {
    throw new ConfigError(`redis option prefix must be non-empty and hold no { or }, got "${o.prefix}"`);
  }
}

/**
 * The URL with its password (or a lone user part, which this adapter reads as a password) and
 * secret-looking parameters replaced, safe to print. Works on what users type, not only valid URLs:
 * everything before the last `@` is credentials (a password may hold an unencoded `/ # ? @`), so only a
 * plain user name before a `:` is shown.
 */
export function redactRedisUrl(input: string | URL): string {
  const parts = /^([a-z][a-z0-9+.-]*:\/*)(.*)$/is.exec(String(input));
  if (!parts) return '<unparsable url>';
  const [, prefix = '', rest = ''] = parts;
  const at = rest.lastIndexOf('@');
  let shown = '';
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? '' : userinfo.slice(0, colon);
    shown = `${colon >= 0 && /^[\w.~-]*$/.test(user) ? `${user}:` : ''}***@`;
  }
  const tail = (at < 0 ? rest : rest.slice(at + 1)).replace(
    /([?&][^=&#]*(?:secret|password|token|key)[^=&#]*=)[^&#]*/gi,
    '$1***',
  );
  return `${prefix}${shown}${tail}`;
}

/** `127.0.0.1:6379` or `h1:7001, h2:7002` for messages. */
export function describeHosts(options: Pick<RedisOptions, 'hosts'>): string {
  return options.hosts.join(', ');
}
