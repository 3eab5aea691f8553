import type { Logger } from '@omnibus/core';
import type { Redis } from 'ioredis';
import { openClient, type RedisClient, send } from './connection.ts';
import type { RedisOptions } from './options.ts';
import type { Partition } from './partition.ts';

/** How long one blocking XREAD waits; on time-out every idle partition is read once more anyway. */
const BLOCK_MS = 5_000;

/**
 * Wakes idle partitions of a subscription on a standalone Redis: one blocking `XREAD` on a connection of its
 * own watches every idle partition stream from its group's last-delivered ID, and returns as soon as one has
 * a new entry. XREAD (without GROUP) changes nothing, so it needs no fencing; the reader then takes the
 * entries through the fenced XREADGROUP script. When another partition turns idle while XREAD blocks,
 * `CLIENT UNBLOCK` restarts it with the larger set.
 */
export class Waiter {
  readonly #main: RedisClient;
  readonly #options: RedisOptions;
  readonly #partitions: Partition[];
  readonly #changed: () => void;
  readonly #logger: Logger;
  #blocker: Redis | undefined;
  #blockerId: number | undefined;
  #watching: Set<Partition> | undefined;
  #unblocking = false;
  #idle: (() => void) | undefined;
  #stopped = false;

  constructor(
    main: RedisClient,
    options: RedisOptions,
    partitions: Partition[],
    changed: () => void,
    logger: Logger,
  ) {
    this.#main = main;
    this.#logger = logger;
    this.#options = options;
    this.#partitions = partitions;
    this.#changed = changed;
  }

  /** A partition turned idle: make sure it is watched. */
  watch(partition: Partition): void {
    const wake = this.#idle;
    this.#idle = undefined;
    wake?.();
    if (
      this.#watching &&
      !this.#watching.has(partition) &&
      !this.#unblocking &&
      this.#blockerId !== undefined
    ) {
      this.#unblocking = true;
      (this.#main as Redis).client('UNBLOCK', this.#blockerId).catch(() => {});
    }
  }

  async run(): Promise<void> {
    while (!this.#stopped) {
      const idle = this.#partitions.filter((p) => p.state === 'owned' && p.idle && p.lastDelivered);
      if (idle.length === 0) {
        await new Promise<void>((resolve) => {
          this.#idle = resolve;
        });
        continue;
      }
      let woken: Set<string> | undefined;
      try {
        const blocker = await this.#connect();
        this.#watching = new Set(idle);
        const reply = await send(blocker, () =>
          blocker.xreadBuffer(
            'COUNT',
            1,
            'BLOCK',
            BLOCK_MS,
            'STREAMS',
            ...idle.map((p) => p.stream),
            ...idle.map((p) => p.lastDelivered!),
          ),
        );
        woken = new Set((reply ?? []).map(([stream]) => stream.toString()));
        if (!reply && !this.#unblocking) woken = undefined; // timed out: read them all once more
      } catch {
        if (this.#stopped) return;
        await new Promise((resolve) => setTimeout(resolve, this.#options.pollIntervalMs));
      } finally {
        this.#watching = undefined;
        this.#unblocking = false;
      }
      let any = false;
      for (const p of idle) {
        if (woken && !woken.has(p.stream)) continue;
        p.idle = false;
        any = true;
      }
      if (any) this.#changed();
    }
  }

  async #connect(): Promise<Redis> {
    if (this.#blocker) return this.#blocker;
    const blocker = (await openClient(this.#options, 'wait', this.#logger, {
      enableAutoPipelining: false,
      // A blocking XREAD cut off by a restart is not worth resending: the loop issues a fresh one.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
    })) as Redis;
    this.#blockerId = Number(await blocker.client('ID'));
    blocker.on('ready', () => {
      // Re-connected: a new connection has a new id (a failure here only delays an unblock).
      blocker.client('ID').then(
        (id) => {
          this.#blockerId = Number(id);
        },
        () => {},
      );
    });
    if (this.#stopped) blocker.disconnect();
    this.#blocker = blocker;
    return blocker;
  }

  stop(): void {
    this.#stopped = true;
    const wake = this.#idle;
    this.#idle = undefined;
    wake?.();
    this.#blocker?.disconnect();
  }
}
