import type { Redis } from 'ioredis';

interface Append {
  stream: string;
  fields: (string | Buffer)[];
  resolve(): void;
  reject(error: Error): void;
  /** What the publisher rejects with instead of the driver's error. */
  fail(error: unknown): Error;
}

/**
 * Plain XADDs (no `maxLen`) on a standalone Redis, coalesced: the appends made in one turn of the event loop
 * go out as one explicit pipeline, in call order (so the entries of a stream keep the order of their
 * publishes). It is what ioredis auto-pipelining does, without the promise and callback it wraps around every
 * command — a publish is one XADD, so that wrapper was a good part of the adapter's own cost per event.
 * Each append settles with its own command's reply; its promise is the publish's own (no wrapper on the way).
 */
export class Appender {
  readonly #client: Redis;
  #queue: Append[] = [];
  #scheduled = false;

  constructor(client: Redis) {
    this.#client = client;
  }

  append(stream: string, fields: (string | Buffer)[], fail: (error: unknown) => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ stream, fields, resolve, reject, fail });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // The next turn, as auto-pipelining does: publishes started by I/O callbacks of this turn join too.
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    const pipeline = this.#client.pipeline();
    for (const { stream, fields } of queue) pipeline.xadd(stream, '*', ...fields);
    pipeline.exec().then(
      (replies) => {
        for (let i = 0; i < queue.length; i++) {
          const error = replies?.[i]?.[0] ?? (replies?.[i] ? null : new Error('no reply to XADD'));
          const append = queue[i]!;
          if (error) append.reject(append.fail(error));
          else append.resolve();
        }
      },
      (error: unknown) => {
        for (const append of queue) append.reject(append.fail(error));
      },
    );
  };
}
