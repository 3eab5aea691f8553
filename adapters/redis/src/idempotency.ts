import { randomUUID } from 'node:crypto';
import { type IdempotencyStore, type Logger, silentLogger, type TransportOptions } from '@omnibus/core';
import { closeClient, openClient, type RedisClient, runScript } from './connection.ts';
import { toBrokerError } from './errors.ts';
import { parseRedisUrl, type RedisOptions } from './options.ts';

/**
 * The core's idempotency store kept in Redis, shared by every instance of every service that uses it, on
 * any broker. One key per (group, event id), `<prefix>:idempotency:<group>:<id>`:
 *
 * - `claim` sets it to a holder token for `leaseMs` unless it exists (one script: atomic across instances):
 *   `completed` if it says `done`, `busy` while another holder's lease lives. A holder that dies stops
 *   renewing nothing — its lease simply expires and the next claim takes over.
 * - `complete` records `done` for `ttlMs`.
 * - `release` drops the lease only if this store still holds it (the token is kept in this process), so a
 *   late release cannot free a lease that expired and went to another instance.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly options: RedisOptions;
  readonly #logger: Logger;
  readonly #holders = new Map<string, string>();
  #client: Promise<RedisClient> | undefined;
  #closed = false;

  constructor(options: RedisOptions, logger: Logger = silentLogger) {
    this.options = options;
    this.#logger = logger;
  }

  /**
   * Connects (on first use otherwise); throws a BrokerError naming the server and the cause. Returns nothing
   * of ioredis's: the published types stay free of the client's own (which a service compiled with
   * `skipLibCheck: false` would have to type-check).
   */
  async connect(): Promise<void> {
    await this.#open();
  }

  #open(): Promise<RedisClient> {
    this.#client ??= openClient(this.options, 'idempotency', this.#logger).catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  async claim(key: string, leaseMs: number): Promise<'claimed' | 'completed' | 'busy'> {
    const holder = `running:${randomUUID()}`;
    const result = await this.#run((client) =>
      runScript<'claimed' | 'completed' | 'busy'>(
        client,
        'omnibusClaim',
        [this.#key(key)],
        [holder, leaseMs],
      ),
    );
    if (result === 'claimed') this.#holders.set(key, holder);
    return result;
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    await this.#run((client) => client.set(this.#key(key), 'done', 'PX', ttlMs));
    this.#holders.delete(key);
  }

  async release(key: string): Promise<void> {
    const holder = this.#holders.get(key);
    if (holder === undefined) return;
    this.#holders.delete(key);
    await this.#run((client) => runScript(client, 'omnibusUnclaim', [this.#key(key)], [holder]));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeClient(await this.#client?.catch(() => undefined));
  }

  #key(key: string): string {
    return `${this.options.prefix}:idempotency:${key}`;
  }

  async #run<T>(call: (client: RedisClient) => Promise<T>): Promise<T> {
    const client = await this.#open();
    try {
      return await call(client);
    } catch (error) {
      throw toBrokerError(error, 'using the idempotency store', this.options);
    }
  }
}

/**
 * A shared idempotency store in Redis for any subscription, whatever its broker:
 * `bus.subscribe(contract, { group, idempotency: { store: redisIdempotencyStore('redis://cache:6379') } }, handler)`.
 * Connects on first use; `prefix` and the other URL settings apply as for the transport; connection
 * losses go to `options.logger`.
 */
export function redisIdempotencyStore(
  url: string | URL,
  overrides: Partial<RedisOptions> = {},
  options: TransportOptions = {},
): RedisIdempotencyStore {
  return new RedisIdempotencyStore(parseRedisUrl(url, overrides), options.logger);
}

/** What `createIdempotencyStore('redis://…')` of `@omnibus/core` calls: a connected store. */
export async function createIdempotencyStore(
  url: URL,
  text?: string,
  options: TransportOptions = {},
): Promise<IdempotencyStore> {
  const store = new RedisIdempotencyStore(parseRedisUrl(text ?? url), options.logger);
  await store.connect();
  return store;
}
