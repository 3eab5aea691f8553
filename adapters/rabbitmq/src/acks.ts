import type { Channel, ConsumeMessage, Message } from 'amqplib';

/**
 * The acknowledgements of one consumer channel. The acks of one event-loop turn go out together after it:
 * one `multiple` ack for the run of deliveries at the head of the channel that are all settled, and one
 * ack each for deliveries behind a delivery still held. A `multiple` ack never covers a held delivery —
 * one still running, or one left unacknowledged so that closing the channel returns it in queue order.
 *
 * With per-key ordering most acks of a turn are contiguous, so a busy partition sends one ack frame per
 * turn instead of one per delivery (the broker settles them in one step too). Every ack waits for the end
 * of its turn; it fails if the channel closed before.
 *
 * Delivery tags of a channel are consecutive (1, 2, 3, … — one consumer per channel), so only the held
 * tags are kept: at most the channel's unacknowledged deliveries (its prefetch), however long one of them
 * is held while the deliveries behind it are acked.
 */
export class ChannelAcks {
  readonly #channel: Channel;
  /** The lowest tag no `multiple` ack has passed yet. */
  #head = 1;
  /** The highest tag received. */
  #newest = 0;
  /** Received and not settled by the core: running, waiting for their key, or left to come back. */
  readonly #held = new Set<number>();
  /** Acked this turn, not yet sent. */
  readonly #acked = new Set<number>();
  #flushed: { promise: Promise<void>; resolve(): void; reject(error: unknown): void } | undefined;

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** Every delivery of the channel, as it arrives (before it is handed to the core). */
  received(message: ConsumeMessage): void {
    const tag = message.fields.deliveryTag;
    this.#held.add(tag);
    if (tag > this.#newest) this.#newest = tag;
  }

  /** Acknowledges `message` at the end of this turn. */
  ack(message: ConsumeMessage): Promise<void> {
    const tag = message.fields.deliveryTag;
    this.#held.delete(tag);
    this.#acked.add(tag);
    if (!this.#flushed) {
      this.#flushed = settleLater();
      setImmediate(() => this.#flush());
    }
    return this.#flushed.promise;
  }

  /** Requeues `message` now (it leaves the run of held deliveries a `multiple` ack may not cross). */
  requeue(message: ConsumeMessage): void {
    this.#channel.nack(message, false, true);
    this.#held.delete(message.fields.deliveryTag);
  }

  #flush(): void {
    const flushed = this.#flushed!;
    this.#flushed = undefined;
    try {
      // Every tag the head passes is settled: acked (now or before) or requeued.
      let last = 0;
      while (this.#head <= this.#newest && !this.#held.has(this.#head)) {
        if (this.#acked.has(this.#head)) last = this.#head;
        this.#head++;
      }
      if (last > 0) this.#channel.ack(tagged(last), true);
      // Behind a held delivery: one at a time.
      for (const tag of this.#acked) if (tag >= this.#head) this.#channel.ack(tagged(tag));
      flushed.resolve();
    } catch (error) {
      flushed.reject(error);
    } finally {
      this.#acked.clear();
    }
  }
}

/** What amqplib reads of a message to acknowledge it. */
function tagged(deliveryTag: number): Message {
  return { fields: { deliveryTag } } as Message;
}

function settleLater(): { promise: Promise<void>; resolve(): void; reject(error: unknown): void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
