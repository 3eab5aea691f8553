// Broker kinds, their env vars and the URLs `brokers.sh up` serves.
//
// Two Redis targets besides the machine's Redis (which keeps nothing on disk):
//   redisDurable  a project-run redis-server with an append-only file, for restart tests
//   redisCluster  three project-run cluster masters, for hash-slot routing tests
export type BrokerKind = 'kafka' | 'amqp' | 'redis' | 'sqs' | 'redisDurable' | 'redisCluster';
export type BrokerUrls = Partial<Record<BrokerKind, string>>;

export const BROKER_KINDS: readonly BrokerKind[] = [
  'kafka',
  'amqp',
  'redis',
  'sqs',
  'redisDurable',
  'redisCluster',
];

export const ENV_VARS: Record<BrokerKind, string> = {
  kafka: 'KAFKA_URL',
  amqp: 'AMQP_URL',
  redis: 'REDIS_URL',
  sqs: 'SQS_URL',
  redisDurable: 'REDIS_DURABLE_URL',
  redisCluster: 'REDIS_CLUSTER_URL',
};

/** The names used on the command line, in BROKERS_ONLY and in REQUIRE_BROKERS. */
export const TARGET_NAMES: Record<BrokerKind, string> = {
  kafka: 'kafka',
  amqp: 'amqp',
  redis: 'redis',
  sqs: 'sqs',
  redisDurable: 'redis-durable',
  redisCluster: 'redis-cluster',
};

export const DEFAULT_URLS: Record<BrokerKind, string> = {
  kafka: 'kafka://127.0.0.1:9092',
  amqp: 'amqp://guest:guest@127.0.0.1:5672',
  redis: 'redis://127.0.0.1:6379',
  sqs: 'sqs://127.0.0.1:9324?region=us-east-1',
  redisDurable: 'redis://127.0.0.1:6380',
  redisCluster: 'redis://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003?cluster=true',
};

export function isBrokerKind(s: string): s is BrokerKind {
  return (BROKER_KINDS as readonly string[]).includes(s);
}

/** A kind from its kind name or target name, case-insensitive (`redis-durable`, `redisDurable`). */
export function parseBrokerKind(s: string): BrokerKind | undefined {
  const wanted = s.trim().toLowerCase();
  return BROKER_KINDS.find((k) => k.toLowerCase() === wanted || TARGET_NAMES[k] === wanted);
}

/**
 * Hide the password part of a URL for printing. Up to the last `@`, so a password that itself holds
 * an `@` (not percent-encoded) is hidden whole; an empty user name (`redis://:secret@host`) counts.
 */
export function redactUrl(url: string): string {
  return url.replace(/(:\/\/[^:/@]*:).*@/, '$1***@');
}

export function kafkaBrokers(url: string): string[] {
  // kafka://host:port[,host:port...]  or plain host:port[,host:port]
  const rest = url.replace(/^kafka:\/\//, '').replace(/[/?].*$/, '');
  return rest
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisTarget {
  nodes: RedisNode[];
  username?: string;
  password?: string;
  /** `?cluster=true`: the nodes are seeds of a Redis Cluster. */
  cluster: boolean;
}

/**
 * redis://[user:password@]host:port[,host:port...][/db][?cluster=true] → nodes, credentials, cluster flag.
 * WHATWG URL cannot hold a host list, so the authority is split by hand.
 */
export function redisTarget(url: string): RedisTarget {
  const m = /^rediss?:\/\/(?:([^@]*)@)?([^/?#]*)(?:\/[^?#]*)?(?:\?([^#]*))?/.exec(url.trim());
  if (!m) throw new Error(`not a redis:// URL: ${redactUrl(url)}`);
  const [, userInfo, hosts = '', query = ''] = m;
  const target: RedisTarget = {
    nodes: hosts
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((hostPort) => {
        const at = hostPort.lastIndexOf(':');
        const bracketed = hostPort.endsWith(']');
        const host = at > 0 && !bracketed ? hostPort.slice(0, at) : hostPort;
        const port = at > 0 && !bracketed ? Number(hostPort.slice(at + 1)) : 6379;
        return { host: host.replace(/^\[|\]$/g, '') || '127.0.0.1', port };
      }),
    cluster: new URLSearchParams(query).get('cluster') === 'true',
  };
  if (!target.nodes.length) target.nodes.push({ host: '127.0.0.1', port: 6379 });
  const bad = target.nodes.find((n) => !Number.isInteger(n.port) || n.port <= 0 || n.port > 65535);
  if (bad) throw new Error(`bad port in redis URL ${redactUrl(url)}`);
  if (userInfo) {
    const colon = userInfo.indexOf(':');
    const user = colon < 0 ? userInfo : userInfo.slice(0, colon);
    if (user) target.username = decodeURIComponent(user);
    if (colon >= 0) target.password = decodeURIComponent(userInfo.slice(colon + 1));
  }
  return target;
}

/** sqs://host:port?region=xx → http://host:port (ElasticMQ / any SQS-compatible endpoint). */
export function sqsEndpoint(url: string): { endpoint: string; region: string } {
  const u = new URL(url);
  const region = u.searchParams.get('region') ?? 'us-east-1';
  const tls = u.searchParams.get('tls') === 'true';
  return { endpoint: `${tls ? 'https' : 'http'}://${u.host}`, region };
}
