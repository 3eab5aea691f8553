/**
 * The adapter seam. An adapter moves bytes and headers to and from one broker and says what that broker
 * can promise ({@link Capabilities}). Everything else — encoding, validation, retries, backoff,
 * dead-letter decisions, idempotency, per-key ordering inside a process, keeping deliveries alive — is
 * the core's job. The core's adapter kit (`hashKey`, `PartitionTracker`, `settleOnce`,
 * `assertPublishable`) holds the chores several adapters share.
 *
 * An adapter package exports `createTransport` (a {@link TransportFactory}) and, for tools and tests,
 * `createAdmin` (an {@link AdminFactory}). Third-party adapters use only `@omnibus/core`'s public exports.
 */

/** What an adapter promises. The conformance suite runs the cases each flag enables. */
export interface Capabilities {
  /** Several instances subscribing with one group split the events between them (each event to one). */
  consumerGroups: boolean;
  /** Every group receives every event. */
  fanOut: boolean;
  /** One instance delivers the events of a key in publish order. */
  orderedByKey: boolean;
  /**
   * Per-key order holds while several instances of one group consume and while instances join and leave:
   * a key is owned by one instance at a time, and ownership moves only after the old owner's deliveries of
   * it have settled (see {@link PartitionTracker}).
   */
  orderedByKeyAcrossInstances: boolean;
  /** After `provision`, events published before a group's first subscribe are still delivered to it. */
  persistent: boolean;
  /** The adapter can hold dead-lettered events in a destination that can be read back. */
  deadLetter: boolean;
  /** Events an instance held unacknowledged when it died are delivered to another instance. */
  crashRedelivery: boolean;
  /**
   * Largest event (body + header names and values + key, as the broker counts them) that may be published, in bytes;
   * `bus.publish` enforces it. The transport's own `publish` must accept up to `maxMessageBytes +
   * DEAD_LETTER_HEADROOM_BYTES`, because a dead-lettered event carries extra headers.
   */
  maxMessageBytes: number;
  /**
   * Set by brokers that hand an unsettled delivery to another consumer after a while even though its
   * consumer is alive (SQS visibility timeout, Redis pending-entry idle time before XAUTOCLAIM), in ms.
   * The core then calls {@link Delivery.touch} on every delivery it holds — while its handler runs, while
   * its retry waits in backoff, while it waits behind an earlier event of its key — at most every
   * `deliveryLeaseMs / 3` ms, so a long handler or backoff causes neither a second run nor an order
   * inversion. Omit it when the broker never takes deliveries away from a live consumer.
   */
  deliveryLeaseMs?: number;
}

/** A message on its way to the broker. Header values are strings (UTF-8, any characters). */
export interface OutgoingMessage {
  topic: string;
  /** Ordering/partitioning key. Events without a key have no ordering promise. */
  key?: string;
  body: Uint8Array;
  headers: Record<string, string>;
}

/**
 * One message handed to the core. The core settles every delivery exactly once, with `ack` or `release`,
 * unless the process dies first (then the broker redelivers it: that is what `crashRedelivery` means).
 */
export interface Delivery {
  key?: string;
  body: Uint8Array;
  headers: Record<string, string>;
  /**
   * How many times the broker has delivered this message, counting this time, when the broker tracks it.
   * The core starts `attempt` from it, so an event that keeps killing its consumer is still dead-lettered
   * after `maxAttempts`. Brokers that cannot tell them apart also count hand-overs (close, rebalance).
   */
  deliveryCount?: number;
  /**
   * Done with it: the broker must not deliver it to this group again. Resolves once the adapter has
   * recorded it; the adapter makes it durable promptly (e.g. Kafka's next offset commit) and before its
   * `close()` resolves. May reject after a connection loss: the broker then redelivers (at-least-once).
   */
  ack(): Promise<void>;
  /**
   * Hand it back untouched, to be delivered again (to this group, in its place in the key's order): used on
   * close, on revocation and when a lease is lost. Never counts as done — an adapter whose `release` acks
   * or commits loses events, and the conformance suite fails it.
   */
  release(): Promise<void>;
  /**
   * True once the adapter is handing this delivery's partition to another instance: the core then
   * releases the delivery instead of starting its handler, so the hand-over waits only for handlers that
   * already run. Read just before each start; {@link PartitionTracker} provides it.
   */
  readonly revoked?: boolean;
  /**
   * Keep-alive, required when `capabilities.deliveryLeaseMs` is set: extends the delivery's lease by that
   * much. Rejects when the lease is lost for good (the broker may already have given the message to someone
   * else; adapters retry passing faults themselves): the core then does not start its handler and does not
   * ack it.
   */
  touch?(): Promise<void>;
}

export interface SubscribeRequest {
  topic: string;
  group: string;
  /**
   * Most deliveries the core will hold unsettled at once. Adapters size prefetch/fetch windows from it and
   * must not hand over more than this many unsettled deliveries.
   */
  maxInFlight: number;
  /**
   * Called once per message, in broker order per key. The returned promise resolves when the core can
   * take more; adapters that fetch in a loop await it (back-pressure), push-based ones may ignore it.
   * It never rejects.
   */
  onDelivery(delivery: Delivery): Promise<void>;
  /** The adapter lost its consumer and could not recover; the core reports it to the user. */
  onError(error: Error): void;
}

export interface TransportSubscription {
  /** Stop handing over new deliveries. Deliveries already handed over can still be acked or released. */
  stop(): Promise<void>;
  /**
   * Let go of the consumer. Anything still unsettled is left to the broker for redelivery — never acked.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** What the broker did with each message of a batch: `undefined` = stored, an Error = not stored. */
export type PublishOutcome = Error | undefined;

/**
 * One connection to one broker. Safe to call concurrently. `publish` resolves only once the broker has
 * taken responsibility for the message (acks=all, publisher confirm, XADD reply, SendMessage reply).
 */
export interface Transport {
  /** Short adapter name used in errors and reports, e.g. `kafka`. */
  readonly name: string;
  readonly capabilities: Capabilities;
  /** Open connections. Called once by `createBus`; errors name the broker (redacted) and the cause. */
  connect(): Promise<void>;
  publish(message: OutgoingMessage): Promise<void>;
  /**
   * Optional: publish many messages in as few broker requests as the broker allows (SendMessageBatch,
   * pipelined XADD). Resolves with one outcome per message, in order, once every message is settled.
   * Messages of one key are stored in array order; once one fails, the later ones of its key are not sent
   * (their outcome says so), so a retry cannot reorder the key. Without it the core publishes one by one.
   */
  publishBatch?(messages: OutgoingMessage[]): Promise<PublishOutcome[]>;
  /**
   * Create whatever the broker needs so that events published to `topic` from now on are kept for each
   * of `groups` even before they subscribe. Idempotent.
   */
  provision(topic: string, groups: string[]): Promise<void>;
  subscribe(request: SubscribeRequest): Promise<TransportSubscription>;
  /** Flush pending publishes, close subscriptions and connections. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: the connection's state as the adapter knows it right now — no broker round trip, cheap
   * enough for a liveness probe. Without it `bus.health()` reports the connection as `unknown`.
   */
  health?(): TransportHealth;
  /**
   * Optional: how many events of `topic` the consumer group `group` has not consumed yet, as the broker
   * counts them — one or two admin round trips, no consumer needed (it counts for groups no instance of
   * this process subscribes). Resolves `undefined` when the broker cannot tell (the group or its queues do
   * not exist, the broker version keeps no count); rejects (with a `BrokerError`) when the broker cannot be
   * asked. Each adapter says in its README what it counts: exact or approximate, whether deliveries handed
   * out and not acknowledged yet are included. Without it `bus.lag()` reports `undefined`.
   */
  lag?(topic: string, group: string): Promise<number | undefined>;
}

/** What a transport says about its connection in {@link Transport.health}. */
export interface TransportHealth {
  /**
   * `up`: connected. `connecting`: (re)connecting — publishes wait, consumers pause. `down`: closed, or
   * the adapter gave up.
   */
  connection: 'up' | 'connecting' | 'down';
  /** The driver's own word for it (e.g. ioredis `reconnecting`), or the last connection error. No credentials. */
  detail?: string;
}

/**
 * Operations for tools and tests (the conformance suite removes what each case created), kept beside the
 * transport rather than inside it: services never need them, and they may need other broker permissions.
 */
export interface TransportAdmin {
  /** Delete what `provision(topic, groups)` created, messages included. Already gone counts as done. */
  deleteTopic(topic: string, groups: string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * What `createBus` hands an adapter besides the URL. `logger` receives the adapter's and its driver's logs
 * (connection lost, reconnecting, driver warnings) — never credentials; an adapter must not write to the
 * console itself, and uses `silentLogger` when none is given.
 */
export interface TransportOptions {
  logger?: import('./logger.ts').Logger;
}

/**
 * What an adapter package exports: `export const createTransport: TransportFactory`. `text` is the URL
 * as the user wrote it (a host list like `h1:9092,h2:9092` survives only there; `url` has the first host).
 * `options` carries the bus's {@link TransportOptions} (its logger).
 */
export type TransportFactory = (
  url: URL,
  text?: string,
  options?: TransportOptions,
) => Transport | Promise<Transport>;

/** `export const createAdmin: AdminFactory` in an adapter package; connects before resolving. */
export type AdminFactory = (url: URL, text?: string, options?: TransportOptions) => Promise<TransportAdmin>;
