import { BrokerError, ConfigError } from '../errors.ts';
import { assertPublishable } from '../kit/limits.ts';
import type {
  AdminFactory,
  Capabilities,
  OutgoingMessage,
  SubscribeRequest,
  Transport,
  TransportAdmin,
  TransportHealth,
  TransportSubscription,
} from '../transport.ts';
import { type MemberHandle, MemoryBroker } from './broker.ts';

/**
 * `memory://[name]?partitions=16&maxMessageBytes=1048576&unroutable=error&leaseMs=30000` — the embedded
 * broker. Buses opened with the same name in one process share a broker (`memory://` is the default one;
 * the first bus of a name sets its partitions and lease). Full semantics: groups, fan-out, per-key order
 * across instances, redelivery of what an abandoned subscription held, and — with `leaseMs` — a visibility
 * timeout like SQS's, so code written for a leased broker can be tested here.
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
  /**
   * Deliveries neither settled nor touched within this many ms go back to their queue, as with an SQS
   * visibility timeout; declared as `deliveryLeaseMs`, so the core keeps what it holds alive. @default none
   */
  leaseMs?: number;
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
    if (name !== 'partitions' && name !== 'maxMessageBytes' && name !== 'leaseMs') {
      throw new ConfigError(
        `memory:// has no option "${name}" — known: partitions, maxMessageBytes, unroutable, leaseMs`,
      );
    }
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1)
      throw new ConfigError(`memory:// option ${name} must be a positive integer, got "${value}"`);
    options[name] = number;
  }
  return { name: url.host || 'default', options };
}

function brokerFor(url: URL): { broker: MemoryBroker; options: MemoryOptions } {
  const { name, options } = parseMemoryUrl(url);
  const broker = brokers.get(name) ?? new MemoryBroker(options.partitions, options.leaseMs);
  brokers.set(name, broker);
  return { broker, options };
}

export function createMemoryTransport(url: URL = new URL('memory://')): Transport {
  const { broker, options } = brokerFor(url);
  return new MemoryTransport(broker, options);
}

/** Admin operations on an embedded broker (tests and tools). */
export const createMemoryAdmin: AdminFactory = async (url) => {
  const { broker } = brokerFor(url);
  const admin: TransportAdmin = {
    deleteTopic: async (topic, groups) => broker.deleteGroups(topic, groups),
    close: async () => {},
  };
  return admin;
};

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
      ...(broker.leaseMs !== undefined && { deliveryLeaseMs: broker.leaseMs }),
    };
  }

  #closed = false;

  async connect(): Promise<void> {}

  /** In-process: up from creation until `close()`. */
  health(): TransportHealth {
    return { connection: this.#closed ? 'down' : 'up' };
  }

  async publish(message: OutgoingMessage): Promise<void> {
    // Enforced here too, as a real broker would; dead letters may use the headroom above the event limit.
    assertPublishable(message, this.capabilities, this.name);
    if (!this.#broker.publish(message) && this.#unroutable === 'error') {
      throw new BrokerError(
        `[memory] no group receives topic "${message.topic}", so the event would reach nobody — provision(contract, { groups }) or subscribe first, or use memory://?unroutable=drop`,
      );
    }
  }

  async provision(topic: string, groups: string[]): Promise<void> {
    for (const group of groups) this.#broker.ensureGroup(topic, group);
  }

  /**
   * Exact: the events of `topic` the group has not acknowledged — waiting in its partitions plus those handed
   * to its members and not settled yet. `undefined` for a group that was never provisioned or subscribed.
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    return this.#broker.lag(topic, group);
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
    this.#closed = true;
    for (const member of this.#members) member.leave();
    this.#members.clear();
  }
}
