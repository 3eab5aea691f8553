import { BrokerError } from '@omnibus/core';
import type { LogEntry, logCreator } from 'kafkajs';
import { describeBrokers, type KafkaOptions } from './options.ts';

const CONNECTION_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
]);
const CONNECTION_CODES =
  /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|Connection timeout/;

/** Errors kafkajs raises when the group moved on without us: the partitions are being reassigned. */
export function isRebalanceError(error: unknown): boolean {
  const type = (error as { type?: string } | undefined)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION'
  );
}

/**
 * Wraps a kafkajs error in a {@link BrokerError} that names the broker and the cause and says what to do.
 * The password never appears: it is not in the broker list, and is scrubbed from the cause's text.
 */
export function toBrokerError(error: unknown, action: string, options: KafkaOptions): BrokerError {
  if (error instanceof BrokerError) return error;
  const brokers = describeBrokers(options);
  const chain = causes(error);
  const scrub = (text: string) =>
    options.sasl?.password ? text.split(options.sasl.password).join('***') : text;
  const root = scrub(
    chain
      .map((e) => e.message)
      .filter(Boolean)
      .at(-1) ?? String(error),
  );
  if (chain.some((e) => CONNECTION_ERRORS.has(e.name) || CONNECTION_CODES.test(e.message))) {
    return new BrokerError(
      `[omnibus] [kafka] cannot reach ${brokers} — is the broker running? (pnpm brokers:up) (${action}: ${root})`,
      {
        cause: error,
      },
    );
  }
  if (chain.some((e) => e.name === 'KafkaJSSASLAuthenticationError')) {
    return new BrokerError(
      `[omnibus] [kafka] ${brokers} refused the SASL login of "${options.sasl?.username ?? ''}" (${options.sasl?.mechanism ?? 'no mechanism'}) — check the user, password and sasl= mechanism (${root})`,
      { cause: error },
    );
  }
  return new BrokerError(`[omnibus] [kafka] ${action} failed on ${brokers}: ${root}`, { cause: error });
}

function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 8 && !chain.includes(current)) {
    chain.push(current);
    const next = (current as { originalError?: unknown }).originalError ?? current.cause;
    current = next;
  }
  return chain;
}

const LEVELS = { nothing: 0, error: 1, warn: 2, info: 4 } as const;
/**
 * Normal during rebalances, restarts and topic creation, or handled by the adapter (kafkajs logs every
 * protocol error response at ERROR even when it retries it or the caller gets it as an exception); printed
 * only at `info`.
 */
const ROUTINE = [
  /rebalancing, re-joining/i,
  /not aware of this member/i,
  /Restarting the consumer/i,
  /^Response \w+\(key/,
  /Limiting retries for the idempotent producer/,
];
/** Fields of a kafkajs log entry that are useful and never hold credentials. */
const SAFE_FIELDS = ['broker', 'groupId', 'topic', 'partition', 'error', 'retryCount', 'retryTime'];

/** kafkajs log lines at `options.logLevel` and above go to `console.warn`/`console.error`, prefixed, without credentials. */
export function createLogCreator(options: KafkaOptions): logCreator {
  const threshold = LEVELS[options.logLevel];
  return () =>
    ({ level, log }: LogEntry) => {
      if (level > threshold || threshold === 0) return;
      const { message } = log;
      if (threshold < LEVELS.info && ROUTINE.some((r) => r.test(message))) return;
      const extra = SAFE_FIELDS.filter((f) => log[f] !== undefined)
        .map((f) => `${f}=${String(log[f])}`)
        .join(' ');
      let line = `[omnibus] [kafka] ${message}${extra ? ` (${extra})` : ''}`;
      if (options.sasl?.password) line = line.split(options.sasl.password).join('***');
      if (level <= LEVELS.error) console.error(line);
      else console.warn(line);
    };
}
