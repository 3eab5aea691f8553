import { createHash } from 'node:crypto';
import { ConfigError } from '@omnibus/core';
import { brokerError, type ConnectionManager, closeQuietly } from './connection.ts';
import type { RabbitMqOptions } from './options.ts';

// The two routing modes (see RabbitMqOptions.routing and the README, "Routing modes"):
//
//   fnv   exchange T (direct) ── routing key "p" ──> queue T.G.p            p = fnv1a32(key) mod P, by the publisher
//   hash  exchange T (fanout) ──> exchange T.G.hash (x-consistent-hash, internal) ── weight "1" ──> queue T.G.p
//         the broker picks p from the routing key = the event's key, for omnibus and for any AMQP producer

/** The exchange type of a topic's exchange in each mode: how an existing topic tells its mode. */
export function topicExchangeType(routing: RabbitMqOptions['routing']): 'direct' | 'fanout' {
  return routing === 'hash' ? 'fanout' : 'direct';
}

/** A group's consistent-hash exchange (routing=hash): bound to the topic's exchange, its queues bound to it. */
export function groupExchangeName(topic: string, group: string): string {
  return `${topic}.${group}.hash`;
}

/** AMQP routing keys are short strings: at most 255 bytes. */
const MAX_ROUTING_KEY_BYTES = 255;

/**
 * The routing key of an event in routing=hash: its key; a key over 255 UTF-8 bytes (too long for AMQP) as
 * `sha256:<64 hex digits of SHA-256(utf8(key))>`; an unkeyed event its message id, which spreads unkeyed
 * events over the partitions and which a consumer recognises as "no key".
 */
export function hashRoutingKey(key: string | undefined, messageId: string): string {
  if (key === undefined) return messageId;
  if (Buffer.byteLength(key, 'utf8') <= MAX_ROUTING_KEY_BYTES) return key;
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/**
 * The key of a message without a `cloudEvents_partitionkey` header in routing=hash: its routing key, which
 * placed it in its partition — unless it is empty, the topic's name or the message id, which say "no key"
 * (how a producer without keys publishes, and how omnibus routes an unkeyed event).
 */
export function keyOfRoutingKey(routingKey: string, topic: string, messageId: unknown): string | undefined {
  if (routingKey === '' || routingKey === topic || routingKey === messageId) return undefined;
  return routingKey;
}

/** What RabbitMQ says when an exchange is declared with another type than the existing one has. */
const TYPE_MISMATCH =
  /inequivalent arg 'type' for exchange '(.*)' in vhost '.*': received '([\w-]+)' but current is '([\w-]+)'/;

/**
 * A {@link ConfigError} when `error` is the broker refusing the topic's exchange because it exists with the
 * type of the other routing mode (406 PRECONDITION_FAILED); otherwise `undefined`.
 */
export function routingMismatch(
  error: unknown,
  options: RabbitMqOptions,
  display: string,
): ConfigError | undefined {
  const match = TYPE_MISMATCH.exec(error instanceof Error ? error.message : '');
  if (!match) return undefined;
  const [, exchange, , current] = match;
  const theirs = current === 'fanout' ? 'hash' : current === 'direct' ? 'fnv' : undefined;
  if (!theirs) return undefined;
  return new ConfigError(
    `[rabbitmq] exchange "${exchange}" exists as a ${current} exchange, made with routing=${theirs}; ` +
      `this transport uses routing=${options.routing} (${display}). Every service of a topic must use one ` +
      `mode: set routing=${theirs} in the URL, or move the topic (drain it, delete its exchange and queues, ` +
      'let the new mode declare them)',
    { cause: error },
  );
}

/**
 * Declaring an exchange of a type the broker does not know closes the whole connection (503 COMMAND_INVALID),
 * so the first consistent-hash exchange of a transport is declared on a connection of its own: a broker
 * without the plugin then fails that one declaration with a {@link ConfigError}, and the transport's
 * connection (its publishes and consumers) is not touched.
 */
export async function declareFirstHashExchange(
  connection: ConnectionManager,
  exchange: string,
  /** Only tests change it: a type no broker has stands for a broker without the plugin. */
  type = 'x-consistent-hash',
): Promise<void> {
  const target = connection.target;
  const model = await connection.openAnother().catch((error: unknown) => {
    throw brokerError(target, 'cannot connect to RabbitMQ', error, 'is the broker running?');
  });
  // The broker's reason arrives as a connection error, before the declaration fails with "Channel ended".
  let closedBecause = '';
  model.on('error', (error: Error) => {
    closedBecause = error.message;
  });
  try {
    const channel = await model.createChannel();
    channel.on('error', () => {});
    await channel.assertExchange(exchange, type, { durable: true, internal: true });
  } catch (error) {
    if (/unknown exchange type/.test(closedBecause)) {
      throw new ConfigError(
        `[rabbitmq] routing=hash needs the ${type} exchange type, which the broker does not have ` +
          `(${target.display}): enable the plugin on every node (rabbitmq-plugins enable ` +
          'rabbitmq_consistent_hash_exchange — no restart needed), or use routing=fnv',
      );
    }
    throw brokerError(target, `cannot declare exchange "${exchange}"`, error);
  } finally {
    await closeQuietly(model);
  }
}
