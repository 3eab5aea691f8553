import { BrokerError, type SubscribeRequest } from '@omnibus/core';
import { toBrokerError } from './errors.ts';
import type { RedisOptions } from './options.ts';

/**
 * What a subscription tells its user about Redis trouble. A lost partition lease at once (its events are
 * delivered again by the next owner, possibly twice). Failing calls once they have kept failing for
 * `leaseMs` — a restart or a blip of a few seconds is the logger's business (connection lost,
 * reconnected) — and then not again until Redis answered; the adapter keeps retrying either way.
 */
export class TroubleReporter {
  readonly #request: SubscribeRequest;
  readonly #options: RedisOptions;
  #since = 0;
  #reported = false;
  /** Set once the subscription stops: a lease given up then is no news. */
  stopped = false;

  constructor(request: SubscribeRequest, options: RedisOptions) {
    this.#request = request;
    this.#options = options;
  }

  lost(error: Error): void {
    if (this.stopped) return;
    const { topic, group } = this.#request;
    this.#request.onError(
      new BrokerError(
        `[omnibus] [redis] ${topic} (group ${group}): ${error.message}; events it had not acknowledged are delivered again by the partition's next owner`,
      ),
    );
  }

  failed(error: unknown, what: string): void {
    const now = Date.now();
    if (this.#since === 0) this.#since = now;
    if (this.#reported || now - this.#since < this.#options.leaseMs) return;
    this.#reported = true;
    const { topic, group } = this.#request;
    this.#request.onError(
      toBrokerError(error, `${what} (${topic}, group ${group}); still trying`, this.#options),
    );
  }

  healthy(): void {
    this.#since = 0;
    this.#reported = false;
  }
}
