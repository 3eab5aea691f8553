import { DEAD_LETTER_HEADROOM_BYTES, encodedSize } from '../envelope.ts';
import { BrokerError, ConfigError, MessageTooLargeError } from '../errors.ts';
import type {
  Capabilities,
  OutgoingMessage,
  SubscribeRequest,
  Transport,
  TransportSubscription,
} from '../transport.ts';
import { type MemberHandle, MemoryBroker } from './broker.ts';

/**
 * `memory://[name]?partitions=16&maxMessageBytes=1048576&unroutable=error` — the embedded broker. Buses opened with the
 * same name in one process share a broker (`memory://` is the default one). Full semantics: groups,
 * fan-out, per-key order across instances, redelivery of what an abandoned subscription held.
 */
export interface MemoryOptions {
  /** Partitions per (topic, group); bounds how many instances of a group share the work. @default 16 */
  partitions: number;
  /** Largest accepted message, body plus headers. @default 1048576 */
  maxMessageBytes: number;
  /**
   * A publish to a topic that no group was provisioned for would reach nobody: `error` rejects it with a
   * `BrokerError` (as RabbitMQ's adapter does), `drop` discards it. @default 'error'
   */
  unroutable: 'error' | 'drop';
}

const brokers = new Map<string, MemoryBroker>();

export function parseMemoryUrl(url: URL): { name: string; options: MemoryOptions } {
  const options: MemoryOptions = { partitions: 16, maxMessageBytes: 1_048_576, unroutable: 'error' };
  for (const [name, value] of url.searchParams) {
    if (name === 'unroutable') {
      if (value !== 'error' && value !== 'drop')
        throw new ConfigError(`memory:// option unroutable must be error or drop, got "${value}"`);
      options.unroutable = value;
      continue;
    }
    if (name !== 'partitions' && name !== 'maxMessageBytes') {
      throw new ConfigError(
        `memory:// has no option "${name}" — known: partitions, maxMessageBytes, unroutable`,
      );
    }
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1)
      throw new ConfigError(`memory:// option ${name} must be a positive integer, got "${value}"`);
    options[name] = number;
  }
  return { name: url.host || 'default', options };
}

export function createMemoryTransport(url: URL = new URL('memory://')): Transport {
  const { name, options } = parseMemoryUrl(url);
  const broker = brokers.get(name) ?? new MemoryBroker(options.partitions);
  brokers.set(name, broker);
  return new MemoryTransport(broker, options);
}

class MemoryTransport implements Transport {
  readonly name = 'memory';
  readonly capabilities: Capabilities;
  readonly #broker: MemoryBroker;
  readonly #members = new Set<MemberHandle>();
  readonly #unroutable: MemoryOptions['unroutable'];

  constructor(broker: MemoryBroker, options: MemoryOptions) {
    this.#broker = broker;
    this.#unroutable = options.unroutable;
    this.capabilities = {
      consumerGroups: true,
      fanOut: true,
      orderedByKey: true,
      orderedByKeyAcrossInstances: true,
      persistent: true,
      deadLetter: true,
      crashRedelivery: true,
      maxMessageBytes: options.maxMessageBytes,
    };
  }

  async connect(): Promise<void> {}

  async publish(message: OutgoingMessage): Promise<void> {
    // Enforced here too, as a real broker would; dead letters may use the headroom above the event limit.
    const size = encodedSize(message.body, message.headers);
    const limit = this.capabilities.maxMessageBytes + DEAD_LETTER_HEADROOM_BYTES;
    if (size > limit) throw new MessageTooLargeError(message.topic, size, limit, this.name);
    if (!this.#broker.publish(message) && this.#unroutable === 'error') {
      throw new BrokerError(
        `[memory] no group receives topic "${message.topic}", so the event would reach nobody — provision(contract, { groups }) or subscribe first, or use memory://?unroutable=drop`,
      );
    }
  }

  async provision(topic: string, groups: string[]): Promise<void> {
    for (const group of groups) this.#broker.ensureGroup(topic, group);
  }

  async deleteTopic(topic: string, groups: string[]): Promise<void> {
    this.#broker.deleteGroups(topic, groups);
  }

  async subscribe(request: SubscribeRequest): Promise<TransportSubscription> {
    const member = this.#broker.join(request.topic, request.group, request.maxInFlight, (d) =>
      request.onDelivery(d),
    );
    this.#members.add(member);
    return {
      stop: async () => member.stop(),
      close: async () => {
        member.leave();
        this.#members.delete(member);
      },
    };
  }

  async close(): Promise<void> {
    for (const member of this.#members) member.leave();
    this.#members.clear();
  }

  async simulateCrash(): Promise<void> {
    await this.close();
  }
}
