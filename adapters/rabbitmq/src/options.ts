import { ConfigError, redactUrl } from '@omnibus/core';

/** How the adapter shapes topology, consumption and publishing. Every field can be set in the URL query. */
export interface RabbitMqOptions {
  /**
   * Partition queues per subscription group. Keyed events go to partition `fnv1a(key) mod partitions`;
   * each partition queue has one active consumer, so this is the most instances of one group that
   * consume at once. Every service publishing to or consuming a topic must use the same number.
   * URL: `partitions`.
   * @default 4
   */
  partitions: number;
  /**
   * Type of the group queues. Quorum queues are replicated and count redeliveries (`x-delivery-count`);
   * classic queues are for brokers without quorum support (before 3.8). URL: `queueType`.
   * @default 'quorum'
   */
  queueType: 'quorum' | 'classic';
  /**
   * Consumer prefetch of each partition queue. Unset, it is the subscription's `maxInFlight`; the adapter
   * never hands the core more than `maxInFlight` unsettled deliveries whatever this is. URL: `prefetch`.
   * @default undefined
   */
  prefetch: number | undefined;
  /**
   * How a keyed event finds its partition queue. `fnv`: the topic's exchange is `direct` and the publisher
   * picks the partition (routing key `fnv1a32(key) mod partitions`), which works on every broker but needs
   * that routing key from a producer that is not omnibus. `hash`: the topic's exchange is `fanout`, each
   * group has an `x-consistent-hash` exchange (plugin `rabbitmq_consistent_hash_exchange`) and the broker
   * picks the partition from the routing key = the event's key, so any AMQP producer can publish. The
   * topology differs: every service of a topic must use the same mode. URL: `routing`.
   * @default 'fnv'
   */
  routing: 'fnv' | 'hash';
  /** AMQP heartbeat in seconds; `0` turns heartbeats off. URL: `heartbeat`. @default 10 */
  heartbeat: number;
  /** Most publishes awaiting a broker confirm at once (the confirm window). URL: `confirmWindow`. @default 256 */
  confirmWindow: number;
  /**
   * How long a publish may wait, for a connection during an outage and then for its confirm, before it
   * fails with a `BrokerError`. URL: `publishTimeout` or `publishTimeoutMs` (the name every adapter takes),
   * in milliseconds.
   * @default 30000
   */
  publishTimeoutMs: number;
  /**
   * What a publish does when the topic has no queue bound (no group provisioned or subscribed): `error`
   * rejects with a `BrokerError` (the event was not kept anywhere), `drop` resolves as pub/sub would.
   * URL: `unroutable`.
   * @default 'error'
   */
  unroutable: 'error' | 'drop';
  /**
   * Largest message (body + headers) the adapter accepts. RabbitMQ's own `max_message_size` is 128 MiB
   * by default; keep this below it. URL: `maxMessageBytes`.
   * @default 16777216
   */
  maxMessageBytes: number;
  /** First delay before reconnecting after a lost connection, doubled per attempt. URL: `reconnectDelay`. @default 200 */
  reconnectDelayMs: number;
  /** Longest delay between reconnect attempts. URL: `reconnectMaxDelay`. @default 5000 */
  reconnectMaxDelayMs: number;
  /** How often a subscription checks that it is not active on more than its share of partitions. URL: `rebalanceInterval`. @default 500 */
  rebalanceIntervalMs: number;
  /** Time allowed for opening the TCP/TLS connection. URL: `connectTimeout`. @default 10000 */
  connectTimeoutMs: number;
}

export const DEFAULT_OPTIONS: Readonly<RabbitMqOptions> = {
  partitions: 4,
  queueType: 'quorum',
  routing: 'fnv',
  prefetch: undefined,
  heartbeat: 10,
  confirmWindow: 256,
  publishTimeoutMs: 30_000,
  unroutable: 'error',
  maxMessageBytes: 16 * 1024 * 1024,
  reconnectDelayMs: 200,
  reconnectMaxDelayMs: 5_000,
  rebalanceIntervalMs: 500,
  connectTimeoutMs: 10_000,
};

/** Where to connect: what amqplib's `connect` takes, plus a printable (redacted) form of the URL. */
export interface ConnectTarget {
  protocol: 'amqp' | 'amqps';
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  /** The URL with its password replaced, for errors. */
  display: string;
}

type NumericOption = Exclude<
  {
    [K in keyof RabbitMqOptions]: RabbitMqOptions[K] extends number | undefined ? K : never;
  }[keyof RabbitMqOptions],
  undefined
>;

/** URL query parameter → numeric option, with the smallest accepted value. */
const NUMERIC_PARAMS: Record<string, { option: NumericOption; min: number }> = {
  partitions: { option: 'partitions', min: 1 },
  prefetch: { option: 'prefetch', min: 1 },
  heartbeat: { option: 'heartbeat', min: 0 },
  confirmWindow: { option: 'confirmWindow', min: 1 },
  publishTimeout: { option: 'publishTimeoutMs', min: 1 },
  publishTimeoutMs: { option: 'publishTimeoutMs', min: 1 },
  maxMessageBytes: { option: 'maxMessageBytes', min: 1 },
  reconnectDelay: { option: 'reconnectDelayMs', min: 1 },
  reconnectMaxDelay: { option: 'reconnectMaxDelayMs', min: 1 },
  rebalanceInterval: { option: 'rebalanceIntervalMs', min: 10 },
  connectTimeout: { option: 'connectTimeoutMs', min: 1 },
};
const KNOWN_PARAMS = [...Object.keys(NUMERIC_PARAMS), 'queueType', 'routing', 'unroutable'];

/**
 * Parses `amqp[s]://user:pass@host:port/vhost?partitions=4&queueType=quorum&prefetch=…`.
 * The vhost is the URL-decoded path (`/` when empty, `%2F` for a literal slash). Unknown query
 * parameters are a {@link ConfigError}, so a typo never silently falls back to a default.
 */
export function parseRabbitMqUrl(
  url: URL,
  overrides: Partial<RabbitMqOptions> = {},
): { target: ConnectTarget; options: RabbitMqOptions } {
  const display = redactUrl(url);
  const protocol = url.protocol.replace(/:$/, '');
  if (protocol !== 'amqp' && protocol !== 'amqps') {
    throw new ConfigError(`[rabbitmq] ${display} is not an amqp:// or amqps:// URL`);
  }
  if (!url.hostname)
    throw new ConfigError(`[rabbitmq] ${display} names no host — use amqp://user:pass@host:5672`);
  const options: RabbitMqOptions = { ...DEFAULT_OPTIONS };
  for (const [name, value] of url.searchParams) {
    const numeric = NUMERIC_PARAMS[name];
    if (numeric) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < numeric.min) {
        throw new ConfigError(
          `[rabbitmq] ${name}=${value} in ${display} must be an integer ≥ ${numeric.min}`,
        );
      }
      options[numeric.option] = n;
    } else if (name === 'queueType') {
      if (value !== 'quorum' && value !== 'classic') {
        throw new ConfigError(`[rabbitmq] queueType=${value} in ${display} must be quorum or classic`);
      }
      options.queueType = value;
    } else if (name === 'routing') {
      if (value !== 'fnv' && value !== 'hash') {
        throw new ConfigError(`[rabbitmq] routing=${value} in ${display} must be fnv or hash`);
      }
      options.routing = value;
    } else if (name === 'unroutable') {
      if (value !== 'error' && value !== 'drop') {
        throw new ConfigError(`[rabbitmq] unroutable=${value} in ${display} must be error or drop`);
      }
      options.unroutable = value;
    } else {
      throw new ConfigError(
        `[rabbitmq] unknown URL parameter "${name}" in ${display} — known: ${KNOWN_PARAMS.join(', ')}`,
      );
    }
  }
  Object.assign(options, overrides);
  if (options.reconnectMaxDelayMs < options.reconnectDelayMs)
    options.reconnectMaxDelayMs = options.reconnectDelayMs;
  const path = url.pathname.replace(/^\//, '');
  const target: ConnectTarget = {
    protocol,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : protocol === 'amqps' ? 5671 : 5672,
    username: url.username ? decoded(url.username, 'user name', display) : 'guest',
    password: url.password ? decoded(url.password, 'password', display) : 'guest',
    vhost: path ? decoded(path, 'vhost', display) : '/',
    display,
  };
  return { target, options };
}

/** Percent-decodes one part of the URL; a bad escape is a ConfigError that does not repeat the value. */
function decoded(value: string, what: string, display: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ConfigError(`[rabbitmq] the ${what} in ${display} has a bad % escape — percent-encode it`);
  }
}
