import {
  assertPublishable,
  BrokerError,
  type Capabilities,
  ConfigError,
  type OutgoingMessage,
  type PublishOutcome,
  partitionOf,
} from '@omnibus/core';
import type { Redis } from 'ioredis';
import { Appender } from './appends.ts';
import { type Arg, type RedisClient, runScript } from './connection.ts';
import { REDIS, RedisStreamFullError, toBrokerError } from './errors.ts';
import { encodeFields, fieldOverhead, type HeaderLayout, TopicKeys } from './keys.ts';
import type { RedisOptions } from './options.ts';

type PublishReply = (string | ['FULL', number, string])[];

/**
 * Writes events to partition streams: keyed events to `fnv1a(key) mod partitions`, keyless ones round-robin.
 * `publish` is one XADD, pipelined with the other publishes of the same tick ({@link Appender}; on a
 * cluster, auto-pipelined by ioredis, which routes each stream's commands to its node); with
 * `maxLen` it is a script that trims what every group acknowledged and refuses the event when the stream is
 * still full. `publishBatch` sends one script per partition stream, all pipelined: each appends its
 * messages in array order and stops a key at its first failure, so a retry cannot reorder the key.
 */
export class Publisher {
  readonly #client: RedisClient;
  readonly #options: RedisOptions;
  readonly #capabilities: Capabilities;
  readonly #topics = new Map<string, Promise<TopicKeys>>();
  /** Topics whose partition count is checked: a publish to them needs no await before its XADD. */
  readonly #checked = new Map<string, TopicKeys>();
  readonly #appender: Appender | undefined;
  /** Publishes waiting for their topic's check: while any waits, none may skip the wait and overtake it. */
  #checking = 0;
  #roundRobin = 0;

  constructor(client: RedisClient, options: RedisOptions, capabilities: Capabilities) {
    this.#client = client;
    this.#options = options;
    this.#capabilities = capabilities;
    this.#appender = options.cluster ? undefined : new Appender(client as Redis);
  }

  /** The common case — a checked topic, no `maxLen`, standalone — is one append and no await of its own. */
  publish(message: OutgoingMessage): Promise<void> {
    try {
      assertPublishable(message, this.#capabilities, REDIS, fieldOverhead(message, this.#options.headers));
    } catch (error) {
      return Promise.reject(error);
    }
    const keys = this.#checking === 0 ? this.#checked.get(message.topic) : undefined;
    if (keys === undefined || this.#appender === undefined || this.#options.maxLen !== undefined) {
      return this.#publishChecking(message);
    }
    return this.#appender.append(
      keys.stream(this.#partition(message)),
      encodeFields(message, this.#options.headers),
      (error) => toBrokerError(error, `publishing to ${message.topic}`, this.#options),
    );
  }

  /** Waits for the topic's check (all waiters of a topic resume in call order), then appends. */
  async #publishChecking(message: OutgoingMessage): Promise<void> {
    this.#checking++;
    let keys: TopicKeys;
    try {
      keys = await this.topic(message.topic);
    } finally {
      this.#checking--;
    }
    const stream = keys.stream(this.#partition(message));
    try {
      if (this.#options.maxLen === undefined) {
        const fields = encodeFields(message, this.#options.headers);
        await (this.#appender
          ? this.#appender.append(stream, fields, (error) => error as Error)
          : this.#client.xadd(stream, '*', ...fields));
        return;
      }
      const args = [this.#options.maxLen, ...framed(message, this.#options.headers)];
      const [outcome] = await runScript<PublishReply>(this.#client, 'omnibusPublish', [stream], args);
      if (Array.isArray(outcome)) throw full(message.topic, stream, outcome, this.#options);
    } catch (error) {
      throw error instanceof RedisStreamFullError
        ? error
        : toBrokerError(error, `publishing to ${message.topic}`, this.#options);
    }
  }

  async publishBatch(messages: OutgoingMessage[]): Promise<PublishOutcome[]> {
    const outcomes: PublishOutcome[] = new Array(messages.length).fill(undefined);
    const byStream = new Map<string, { index: number; message: OutgoingMessage }[]>();
    const failedKeys = new Map<string, Error>();
    for (const [index, message] of messages.entries()) {
      const earlier =
        message.key === undefined ? undefined : failedKeys.get(`${message.topic}\u0000${message.key}`);
      try {
        if (earlier) throw notSent(message, earlier);
        assertPublishable(message, this.#capabilities, REDIS, fieldOverhead(message, this.#options.headers));
        const keys = await this.topic(message.topic);
        const stream = keys.stream(this.#partition(message));
        const list = byStream.get(stream) ?? [];
        list.push({ index, message });
        byStream.set(stream, list);
      } catch (error) {
        outcomes[index] = error as Error;
        if (message.key !== undefined) failedKeys.set(`${message.topic}\u0000${message.key}`, error as Error);
      }
    }
    await Promise.all(
      [...byStream].map(async ([stream, list]) => {
        const args: Arg[] = [this.#options.maxLen ?? 0];
        for (const { message } of list) args.push(...framed(message, this.#options.headers));
        try {
          const reply = await runScript<PublishReply>(this.#client, 'omnibusPublish', [stream], args);
          const chainFailures = new Map<string | undefined, Error>();
          list.forEach(({ index, message }, i) => {
            const outcome = reply[i];
            if (Array.isArray(outcome)) {
              outcomes[index] = full(message.topic, stream, outcome, this.#options);
              chainFailures.set(message.key, outcomes[index]);
            } else if (outcome === 'SKIP') {
              outcomes[index] = notSent(message, chainFailures.get(message.key) ?? new Error('stream full'));
            }
          });
        } catch (error) {
          const failure = toBrokerError(
            error,
            `publishing ${list.length} event(s) to ${stream}`,
            this.#options,
          );
          for (const { index } of list) outcomes[index] = failure;
        }
      }),
    );
    return outcomes;
  }

  /**
   * The topic's keys, once its partition count is recorded (or checked against the recorded one): services
   * that disagree on `partitions` would split a key over two streams or leave streams unread.
   */
  topic(topic: string, groups: string[] = []): Promise<TopicKeys> {
    const known = groups.length === 0 ? this.#topics.get(topic) : undefined;
    if (known) return known;
    const keys = new TopicKeys(this.#options.prefix, topic);
    const checked = runScript<string>(
      this.#client,
      'omnibusTopic',
      [keys.meta, keys.groups],
      [this.#options.partitions, ...groups],
    ).then(
      (recorded) => {
        if (Number(recorded) !== this.#options.partitions) {
          throw new ConfigError(
            `[omnibus] [redis] topic ${topic} has ${recorded} partitions (recorded by the first service that used it) but this service uses partitions=${this.#options.partitions} — every service of a topic must use the same number`,
          );
        }
        if (groups.length === 0) this.#checked.set(topic, keys);
        return keys;
      },
      (error: unknown) => {
        throw toBrokerError(error, `recording topic ${topic}`, this.#options);
      },
    );
    if (groups.length === 0) {
      this.#topics.set(topic, checked);
      checked.catch(() => this.#topics.delete(topic));
    }
    return checked;
  }

  #partition(message: OutgoingMessage): number {
    const partitions = this.#options.partitions;
    if (message.key !== undefined) return partitionOf(message.key, partitions);
    this.#roundRobin = (this.#roundRobin + 1) % partitions;
    return this.#roundRobin;
  }
}

/** A message as the publish script reads it: its chain (key), field count, fields. */
function framed(message: OutgoingMessage, layout: HeaderLayout): Arg[] {
  const fields = encodeFields(message, layout);
  return [message.key === undefined ? '' : `k:${message.key}`, fields.length, ...fields];
}

function full(topic: string, stream: string, [, length, group]: ['FULL', number, string], o: RedisOptions) {
  return new RedisStreamFullError(topic, stream, Number(length), o.maxLen ?? 0, String(group));
}

function notSent(message: OutgoingMessage, earlier: Error): Error {
  return new BrokerError(
    `[omnibus] [redis] not sent: an earlier event of key "${message.key}" in this batch failed (${earlier.message})`,
  );
}
