/**
 * The adapter seam. An adapter moves bytes and headers to and from one broker and says what that broker
 * can promise ({@link Capabilities}). Everything else — encoding, validation, retries, backoff,
 * dead-letter decisions, idempotency, per-key ordering inside a process — is the core's job.
 *
 * Third-party adapters implement {@link Transport} using only `@omnibus/core`'s public exports.
 */

/** What an adapter promises. The conformance suite runs the cases each flag enables. */
export interface Capabilities {
  /** Several instances subscribing with one group split the events between them. */
  consumerGroups: boolean;
  /** Every group receives every event. */
  fanOut: boolean;
  /** One instance delivers the events of a key in publish order. */
  orderedByKey: boolean;
  /** Per-key order holds while several instances of one group consume (a key is owned by one instance at a time). */
  orderedByKeyAcrossInstances: boolean;
  /** After `provision`, events published before a group's first subscribe are still delivered to it. */
  persistent: boolean;
  /** The adapter can hold dead-lettered events in a destination that can be read back. */
  deadLetter: boolean;
  /** Events an instance held unacknowledged when it died are delivered to another instance. */
  crashRedelivery: boolean;
  /**
   * Largest event (body + header names and values; the key not included) that may be published, in bytes;
   * `bus.publish` enforces it. The transport's own `publish` must accept up to `maxMessageBytes +
   * DEAD_LETTER_HEADROOM_BYTES`, because a dead-lettered event carries extra headers.
   */
  maxMessageBytes: number;
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
  /** Hand it back untouched for later redelivery (used on close); does not count as a failure. */
  release(): Promise<void>;
  /** Optional keep-alive for long handlers on brokers with a visibility timeout or lease. */
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
  /** Let go of the consumer. Anything still unsettled is left to the broker for redelivery. Idempotent. */
  close(): Promise<void>;
}

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
   * Create whatever the broker needs so that events published to `topic` from now on are kept for each
   * of `groups` even before they subscribe. Idempotent.
   */
  provision(topic: string, groups: string[]): Promise<void>;
  subscribe(request: SubscribeRequest): Promise<TransportSubscription>;
  /** Flush pending publishes, close subscriptions and connections. Idempotent. */
  close(): Promise<void>;
  /**
   * Delete what `provision(topic, groups)` created, messages included. For tests and tooling (the
   * conformance suite removes every topic a case created); the core never calls it.
   */
  deleteTopic?(topic: string, groups: string[]): Promise<void>;
  /** Test hook for in-process adapters: drop every consumer without settling, as a killed process would. */
  simulateCrash?(): Promise<void>;
}

/**
 * What an adapter package exports: `export const createTransport: TransportFactory`. `text` is the URL
 * as the user wrote it (a host list like `h1:9092,h2:9092` survives only there; `url` has the first host).
 */
export type TransportFactory = (url: URL, text?: string) => Transport | Promise<Transport>;
