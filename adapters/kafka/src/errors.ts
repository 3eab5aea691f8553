import { BrokerError, type Logger } from '@omnibus/core';
import type { LogEntry, logCreator } from 'kafkajs';
import { describeBrokers, type KafkaOptions } from './options.ts';

const CONNECTION_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
]);
const CONNECTION_CODES =
  /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|Connection timeout/;

/** Node's words when the peer hangs up on a TLS ClientHello: it does not speak TLS (ssl=true on a plain port). */
const TLS_NOT_SPOKEN = /before secure TLS connection was established/;

/** The Kafka error types (`UNKNOWN_TOPIC_OR_PARTITION`, …) anywhere in an error's cause chain. */
export function kafkaErrorTypes(error: unknown): Set<string> {
  const types = new Set<string>();
  let current = error as { type?: string; originalError?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    if (typeof current.type === 'string') types.add(current.type);
    current = (current.originalError ?? current.cause) as typeof current;
  }
  return types;
}

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
  if (options.sasl && kafkaErrorTypes(error).has('ILLEGAL_SASL_STATE')) {
    // A listener without SASL answers the SASL handshake this way; kafkajs only says "Request is not valid
    // given the current SASL state".
    return new BrokerError(
      `[omnibus] [kafka] ${brokers} does not accept SASL: the URL asks for sasl=${options.sasl.mechanism} (user "${options.sasl.username}") but the listener there is not a SASL listener (ILLEGAL_SASL_STATE) — check the listener and protocol: use the port of a SASL_PLAINTEXT or SASL_SSL listener (ssl=true for SASL_SSL), or drop user:password@ and sasl= for a PLAINTEXT or SSL listener (${action})`,
      { cause: error },
    );
  }
  if (options.ssl && chain.some((e) => TLS_NOT_SPOKEN.test(e.message))) {
    return new BrokerError(
      `[omnibus] [kafka] no TLS handshake with ${brokers} — the URL has ssl=true but the listener there does not speak TLS (a PLAINTEXT or SASL_PLAINTEXT listener?) — check the listener and protocol: use the port of an SSL or SASL_SSL listener, or drop ssl=true (${action}: ${root})`,
      { cause: error },
    );
  }
  if (
    chain.some((e) => e.name === 'KafkaJSConnectionClosedError') &&
    !chain.some((e) => CONNECTION_CODES.test(e.message))
  ) {
    // The broker took the connection and hung up: a SASL listener does so at the first request without a SASL
    // handshake, an SSL listener at bytes that are not TLS.
    return new BrokerError(
      `[omnibus] [kafka] ${brokers} closed the connection — if the broker is running, check the listener and protocol: a SASL_PLAINTEXT or SASL_SSL listener needs user:password@ and sasl= in the URL, an SSL or SASL_SSL listener ssl=true (${action}: ${root})`,
      { cause: error },
    );
  }
  if (chain.some((e) => CONNECTION_ERRORS.has(e.name) || CONNECTION_CODES.test(e.message))) {
    return new BrokerError(
      `[omnibus] [kafka] cannot reach ${brokers} — is the broker running? (${action}: ${root})`,
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
 * protocol error response at ERROR even when it retries it or the caller gets it as an exception): these
 * go to the logger at `debug`.
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

/**
 * kafkajs log lines at `options.logLevel` and above go to the bus's logger (never to the console), as
 * `[omnibus] [kafka] <message>` with the useful fields, credentials scrubbed. kafkajs ERROR → `error`,
 * WARN → `warn`, INFO → `info`; routine lines → `debug`.
 */
export function createLogCreator(options: KafkaOptions, logger: Logger): logCreator {
  const threshold = LEVELS[options.logLevel];
  const password = options.sasl?.password;
  const scrub = (text: string) => (password ? text.split(password).join('***') : text);
  return () =>
    ({ level, log }: LogEntry) => {
      if (level > threshold || threshold === 0) return;
      const fields: Record<string, unknown> = { adapter: 'kafka' };
      for (const name of SAFE_FIELDS) if (log[name] !== undefined) fields[name] = scrub(String(log[name]));
      const method = ROUTINE.some((r) => r.test(log.message))
        ? 'debug'
        : level <= LEVELS.error
          ? 'error'
          : level <= LEVELS.warn
            ? 'warn'
            : 'info';
      logger[method](fields, scrub(`[omnibus] [kafka] ${log.message}`));
    };
}
