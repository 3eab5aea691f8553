// Broker kinds, their env vars and the URLs `brokers.sh up` serves.
export type BrokerKind = 'kafka' | 'amqp' | 'redis' | 'sqs';
export type BrokerUrls = Partial<Record<BrokerKind, string>>;

export const BROKER_KINDS: readonly BrokerKind[] = ['kafka', 'amqp', 'redis', 'sqs'];

export const ENV_VARS: Record<BrokerKind, string> = {
  kafka: 'KAFKA_URL',
  amqp: 'AMQP_URL',
  redis: 'REDIS_URL',
  sqs: 'SQS_URL',
};

export const DEFAULT_URLS: Record<BrokerKind, string> = {
  kafka: 'kafka://127.0.0.1:9092',
  amqp: 'amqp://guest:guest@127.0.0.1:5672',
  redis: 'redis://127.0.0.1:6379',
  sqs: 'sqs://127.0.0.1:9324?region=us-east-1',
};

export function isBrokerKind(s: string): s is BrokerKind {
  return (BROKER_KINDS as readonly string[]).includes(s);
}

/** Hide the password part of a URL for printing. */
export function redactUrl(url: string): string {
  return url.replace(/(:\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

export function kafkaBrokers(url: string): string[] {
  // kafka://host:port[,host:port...]  or plain host:port[,host:port]
  const rest = url.replace(/^kafka:\/\//, '').replace(/[/?].*$/, '');
  return rest
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** sqs://host:port?region=xx → http://host:port (ElasticMQ / any SQS-compatible endpoint). */
export function sqsEndpoint(url: string): { endpoint: string; region: string } {
  const u = new URL(url);
  const region = u.searchParams.get('region') ?? 'us-east-1';
  const tls = u.searchParams.get('tls') === 'true';
  return { endpoint: `${tls ? 'https' : 'http'}://${u.host}`, region };
}
