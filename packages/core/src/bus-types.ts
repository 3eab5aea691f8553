/** The types of the bus's public API: what handlers get, publish options, dead letters, closing. */

/** What a handler learns about the event besides its payload. */
export interface EventContext {
  /** CloudEvents id: the same on every redelivery and duplicate. */
  id: string;
  type: string;
  /** CloudEvents source (REQUIRED: an event without it is dead-lettered, as one without `id`). */
  source: string;
  /**
   * CloudEvents time. OPTIONAL in CloudEvents: omnibus always sets it, other producers may not — then it is
   * `undefined` (never an invalid Date; an unreadable time dead-letters the event, saying so).
   */
  time: Date | undefined;
  key: string | undefined;
  /** 1 on the first attempt, counting retries (and broker redeliveries where the broker counts them). */
  attempt: number;
  /** The publisher's own headers (CloudEvents attributes are the fields above). */
  headers: Record<string, string>;
  topic: string;
  group: string;
}

export type Handler<T> = (event: T, context: EventContext) => Promise<void> | void;

export interface PublishOptions {
  /** Ordering key: events with one key are consumed in publish order. */
  key?: string;
  /** Your own headers (string values; names starting `ce_`, `omnibus-` or `content-type` are reserved). */
  headers?: Record<string, string>;
  /** Event id. @default a random UUID */
  id?: string;
  /** Event time. @default now */
  time?: Date;
}

/** An event that could not be processed, as read back from a dead-letter topic. */
export interface DeadLetter {
  /** Why: `max-attempts` (the handler kept failing) or `undecodable` (bytes or schema unreadable). */
  reason: string;
  /** The last error message. */
  error: string;
  attempts: number;
  group: string;
  /** Topic the event was consumed from. */
  topic: string;
  key: string | undefined;
  /** Original headers, unchanged. */
  headers: Record<string, string>;
  /** Original bytes, unchanged. */
  body: Uint8Array;
}

/** How long `close()` waits. */
export interface CloseOptions {
  /**
   * Bounds the whole close (e.g. inside a shutdown grace period): after this many ms it stops waiting for
   * running handlers (their events are left to the broker and redelivered — at-least-once) and for the
   * connection to flush (publishes the broker has not confirmed reject with `UnconfirmedPublishError`).
   * @default wait until everything finished
   */
  timeoutMs?: number;
}

export interface Subscription {
  /** Waits for running handlers (acking those that succeed), returns the rest to the broker. Idempotent. */
  close(options?: CloseOptions): Promise<void>;
}
