import type { Channel, ConsumeMessage } from 'amqplib';

/** Received, not settled by the core yet (running, waiting, or left to come back when the channel closes). */
const HELD = 0;
/** Acked by the core this turn, not yet sent. */
const ACKED = 1;
/** Settled with the broker (acked on its own, or requeued). */
const SETTLED = 2;

/**
 * The acknowledgements of one consumer channel. The acks of one event-loop turn go out together after it:
 * one `multiple` ack for the run of deliveries at the head of the channel that are all settled, and one
 * ack each for deliveries behind a delivery still held. A `multiple` ack never covers a held delivery —
 * one still running, or one left unacknowledged so that closing the channel returns it in queue order.
 *
 * With per-key ordering most acks of a turn are contiguous, so a busy partition sends one ack frame per
 * turn instead of one per delivery (the broker settles them in one step too). Every ack waits for the end
 * of its turn; it fails if the channel closed before.
 */
export class ChannelAcks {
  readonly #channel: Channel;
  /** Deliveries not yet passed by a `multiple` ack, in delivery-tag order, from `#head`. */
  #queue: ConsumeMessage[] = [];
  #head = 0;
  readonly #state = new Map<number, number>();
  /** Acked this turn. */
  #turn: ConsumeMessage[] = [];
  #flushed: { promise: Promise<void>; resolve(): void; reject(error: unknown): void } | undefined;

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** Every delivery of the channel, as it arrives (before it is handed to the core). */
  received(message: ConsumeMessage): void {
    this.#queue.push(message);
    this.#state.set(message.fields.deliveryTag, HELD);
  }

  /** Acknowledges `message` at the end of this turn. */
  ack(message: ConsumeMessage): Promise<void> {
    this.#state.set(message.fields.deliveryTag, ACKED);
    this.#turn.push(message);
    if (!this.#flushed) {
      this.#flushed = settleLater();
      setImmediate(() => this.#flush());
    }
    return this.#flushed.promise;
  }

  /** Requeues `message` now (it leaves the run of held deliveries a `multiple` ack may not cross). */
  requeue(message: ConsumeMessage): void {
    this.#channel.nack(message, false, true);
    this.#state.set(message.fields.deliveryTag, SETTLED);
  }

  #flush(): void {
    const flushed = this.#flushed!;
    const turn = this.#turn;
    this.#flushed = undefined;
    this.#turn = [];
    try {
      let last: ConsumeMessage | undefined;
      while (this.#head < this.#queue.length) {
        const message = this.#queue[this.#head]!;
        const tag = message.fields.deliveryTag;
        const state = this.#state.get(tag);
        if (state === HELD) break;
        if (state === ACKED) last = message;
        this.#state.delete(tag);
        this.#head++;
      }
      if (last) this.#channel.ack(last, true);
      for (const message of turn) {
        const tag = message.fields.deliveryTag;
        if (this.#state.get(tag) !== ACKED) continue; // covered by the multiple ack
        this.#channel.ack(message);
        this.#state.set(tag, SETTLED);
      }
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      flushed.resolve();
    } catch (error) {
      flushed.reject(error);
    }
  }
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
