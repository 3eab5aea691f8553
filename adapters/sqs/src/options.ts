import { ConfigError, redactUrl } from '@omnibus/core';

/** Settings of the SQS adapter. Every field can be set in the URL (see {@link parseSqsUrl}). */
export interface SqsOptions {
  /**
   * The SQS endpoint: `http://127.0.0.1:9324` for a local one (ElasticMQ, LocalStack), `undefined` for
   * the AWS endpoint of `region`. `sqs://host:port` gives `http://host:port` (`tls=true`: https);
   * `sqs://sqs.eu-west-1.amazonaws.com` and `sqs://?region=…` give AWS.
   */
  endpoint: string | undefined;
  /** AWS region. URL: `region`. @default the SDK's (AWS_REGION), else us-east-1 for a local endpoint */
  region: string | undefined;
  /**
   * Static credentials from the URL (`sqs://KEY_ID:SECRET@host`); never printed. Without them AWS uses the
   * SDK's default credential chain (environment, profile, SSO, container and instance roles); a local
   * endpoint without them signs with placeholder credentials (ElasticMQ checks none).
   */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** First part of every queue name, so several applications can share an account. URL: `prefix`. @default 'omnibus' */
  prefix: string;
  /**
   * FIFO queues (`true`): a key's events are a message group — delivered in order, one at a time across
   * every instance of a group, deduplicated by event id for 5 minutes. Standard queues (`false`): higher
   * throughput (no per-group limits), no order, no deduplication. Publishers and subscribers of a topic
   * must agree. URL: `fifo`. @default true
   */
  fifo: boolean;
  /**
   * How long a received message stays invisible to other consumers (the queue's VisibilityTimeout). The
   * core extends it while a handler runs or a retry waits, so only a consumer that died (or lost its
   * network) has its messages delivered again, after this long. Whole seconds, 1 s to 12 h. URL:
   * `visibilityTimeoutMs`. @default 30000
   */
  visibilityTimeoutMs: number;
  /**
   * Long-poll wait of each ReceiveMessage, 0–20 s; also how long `close()` waits for its open polls to
   * answer (3 s more, then it cuts them off). URL: `waitTimeSeconds`. @default 5
   */
  waitTimeSeconds: number;
  /**
   * ReceiveMessage calls a subscription keeps open at once (each brings up to 10 messages), bounded by
   * what the core can hold (`maxInFlight`). URL: `receivers`. @default 4
   */
  receivers: number;
  /**
   * Receives after which SQS itself moves a message to the topic's dead-letter queue (the redrive
   * policy): a safety net for events the core could not dead-letter with a reason. The core counts every
   * receive as an attempt (`ApproximateReceiveCount`) and dead-letters at the subscription's `maxAttempts`,
   * so keep this well above it; hand-overs on close count as receives too. URL: `maxReceiveCount`.
   * @default 50
   */
  maxReceiveCount: number;
  /**
   * How long a publisher trusts its list of a topic's group queues (found with ListQueues by name prefix)
   * before listing again; `provision` and `subscribe` in the same process refresh it at once. A group
   * provisioned by another process starts receiving a publisher's events at most this late. URL:
   * `discoveryTtlMs`. @default 5000
   */
  discoveryTtlMs: number;
  /**
   * Largest event (body + header names and values + key) the adapter accepts, before base64 and attribute
   * packing; further capped by the queues' `MaximumMessageSize` (1 MiB on AWS since 2025). URL:
   * `maxMessageBytes`. @default 760000
   */
  maxMessageBytes: number;
  /**
   * What a publish does when the topic has no group queue (no group provisioned or subscribed, or every
   * group queue deleted): `error` rejects with a `BrokerError` (the event was not kept anywhere), `drop`
   * resolves and logs a warning once per topic, as pub/sub would. URL: `unroutable`.
   * @default 'error'
   */
  unroutable: 'error' | 'drop';
  /** SQS requests running at once per transport (sends, deletes, visibility changes). URL: `maxConcurrency`. @default 32 */
  maxConcurrency: number;
  /** Time for one request before the SDK gives up and retries. URL: `requestTimeoutMs`. @default 30000 */
  requestTimeoutMs: number;
}

export const DEFAULT_OPTIONS: Readonly<SqsOptions> = Object.freeze({
  endpoint: undefined,
  region: undefined,
  credentials: undefined,
  prefix: 'omnibus',
  fifo: true,
  visibilityTimeoutMs: 30_000,
  waitTimeSeconds: 5,
  receivers: 4,
  maxReceiveCount: 50,
  discoveryTtlMs: 5_000,
  maxMessageBytes: 760_000,
  maxConcurrency: 32,
  requestTimeoutMs: 30_000,
  unroutable: 'error',
});

const INTEGER_PARAMS = [
  'visibilityTimeoutMs',
  'waitTimeSeconds',
  'receivers',
  'maxReceiveCount',
  'discoveryTtlMs',
  'maxMessageBytes',
  'maxConcurrency',
  'requestTimeoutMs',
] as const;
const BOOLEAN_PARAMS = ['fifo', 'tls'] as const;
const KNOWN = ['region', 'prefix', 'unroutable', ...INTEGER_PARAMS, ...BOOLEAN_PARAMS].join(', ');
const URL_SHAPE = /^(sqs):\/\/(?:([^/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?(?:#.*)?$/i;
const AWS_HOST = /^sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/i;

/**
 * Reads `sqs://[KEY_ID:SECRET@]host[:port][?region=…&fifo=…]`. A host of the form
 * `sqs.<region>.amazonaws.com` (or none: `sqs://?region=eu-west-1`) means AWS over https; any other host
 * is a local or compatible endpoint over http (`tls=true` for https). `overrides` win over the URL.
 */
export function parseSqsUrl(input: string | URL, overrides: Partial<SqsOptions> = {}): SqsOptions {
  const text = String(input);
  const match = URL_SHAPE.exec(text);
  if (!match) {
    throw new ConfigError(
      `${redactSqsUrl(text)} is not an sqs:// URL — expected sqs://host:9324?region=us-east-1 (a local endpoint) or sqs://sqs.eu-west-1.amazonaws.com (characters such as / # ? @ % in a secret must be percent-encoded)`,
    );
  }
  const [, , userinfo, host = '', path = '', query = ''] = match;
  if (path) {
    throw new ConfigError(
      `sqs URL ${redactSqsUrl(text)} has a path ("/${path}"): queues are named after topics and groups, not given in the URL`,
    );
  }
  const options: SqsOptions = { ...DEFAULT_OPTIONS };
  let tls: boolean | undefined;
  for (const [name, value] of new URLSearchParams(query)) {
    if (name === 'region') options.region = value || undefined;
    else if (name === 'prefix') options.prefix = value;
    else if (name === 'tls') tls = boolean(name, value);
    else if (name === 'fifo') options.fifo = boolean(name, value);
    else if (name === 'unroutable') {
      if (value !== 'error' && value !== 'drop') {
        throw new ConfigError(`sqs URL parameter unroutable=${value} must be error or drop`);
      }
      options.unroutable = value;
    } else if ((INTEGER_PARAMS as readonly string[]).includes(name)) {
      options[name as (typeof INTEGER_PARAMS)[number]] = integer(name, value, text);
    } else {
      throw new ConfigError(`unknown sqs URL parameter "${name}" — known: ${KNOWN}`);
    }
  }
  if (host) {
    const hostname = checkedHost(host, text);
    const aws = AWS_HOST.exec(hostname);
    if (aws) {
      options.region ??= aws[1]!.toLowerCase();
      options.endpoint = tls === false ? `http://${host}` : undefined;
    } else {
      options.endpoint = `${tls ? 'https' : 'http'}://${host}`;
      options.region ??= 'us-east-1';
    }
  }
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    if (colon < 0) {
      throw new ConfigError(
        `sqs URL ${redactSqsUrl(text)} has a user but no secret — write sqs://ACCESS_KEY_ID:SECRET_ACCESS_KEY@host, or leave both out to use the SDK's credential chain`,
      );
    }
    const accessKeyId = decode(userinfo.slice(0, colon), text);
    const secretAccessKey = decode(userinfo.slice(colon + 1), text);
    if (accessKeyId && secretAccessKey) options.credentials = { accessKeyId, secretAccessKey };
  }
  Object.assign(options, overrides);
  validate(options);
  return options;
}

function checkedHost(host: string, text: string): string {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(host);
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (!m || (port !== undefined && (port < 1 || port > 65_535))) {
    throw new ConfigError(`sqs URL ${redactSqsUrl(text)} has an unreadable host or port "${host}"`);
  }
  return m[1]!;
}

function integer(name: string, value: string, text: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || value.trim() === '') {
    throw new ConfigError(`sqs URL ${redactSqsUrl(text)}: ${name}=${value} is not an integer`);
  }
  return n;
}

function boolean(name: string, value: string): boolean {
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(`sqs URL parameter ${name}=${value} is not true or false`);
}

function decode(part: string, text: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`sqs URL ${redactSqsUrl(text)} has a badly percent-encoded access key or secret`);
  }
}

function validate(o: SqsOptions): void {
  for (const name of INTEGER_PARAMS) {
    if (name === 'waitTimeSeconds') continue;
    if (!(o[name] > 0)) throw new ConfigError(`sqs option ${name} must be a positive number, got ${o[name]}`);
  }
  if (!(o.waitTimeSeconds >= 0 && o.waitTimeSeconds <= 20)) {
    throw new ConfigError(
      `sqs option waitTimeSeconds must be 0 to 20 (the SQS long-poll limit), got ${o.waitTimeSeconds}`,
    );
  }
  if (o.visibilityTimeoutMs < 1_000 || o.visibilityTimeoutMs > 43_200_000 || o.visibilityTimeoutMs % 1_000) {
    throw new ConfigError(
      `sqs option visibilityTimeoutMs must be whole seconds from 1000 to 43200000 (12 h, the SQS limit), got ${o.visibilityTimeoutMs}`,
    );
  }
  if (o.maxReceiveCount > 1_000) {
    throw new ConfigError(
      `sqs option maxReceiveCount must be at most 1000 (the SQS limit), got ${o.maxReceiveCount}`,
    );
  }
  if (!/^[A-Za-z0-9_-]{1,16}$/.test(o.prefix)) {
    throw new ConfigError(
      `sqs option prefix must be 1 to 16 letters, digits, - or _ (it starts every queue name), got "${o.prefix}"`,
    );
  }
}

/** The URL fit to print: the secret access key replaced by `***`. */
export function redactSqsUrl(url: string | URL): string {
  return redactUrl(url);
}
