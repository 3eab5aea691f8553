// For tests: the broker URLs that scripts/brokers/src/global-setup.ts found.
//
//   import { brokerUrl } from '@omnibus/brokers-dev';
//   const url = brokerUrl('kafka');
//   describe.skipIf(!url)('kafka', () => { … });
import { inject } from 'vitest';
import type { BrokerKind, BrokerUrls } from './urls.ts';
import './provided-context.ts';

export type { BrokerKind, BrokerUrls, RedisNode, RedisTarget } from './urls.ts';
export {
  BROKER_KINDS,
  DEFAULT_URLS,
  ENV_VARS,
  kafkaBrokers,
  parseBrokerKind,
  redactUrl,
  redisTarget,
  sqsEndpoint,
  TARGET_NAMES,
} from './urls.ts';

/** All broker URLs provided by the global setup ({} when the setup is not wired in). */
export function brokerUrls(): BrokerUrls {
  return (inject('brokerUrls') as BrokerUrls | undefined) ?? {};
}

/** The URL of one broker, or undefined when none was found (skip the tests that need it). */
export function brokerUrl(kind: BrokerKind): string | undefined {
  return brokerUrls()[kind];
}
