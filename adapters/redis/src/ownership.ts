import type { PartitionTracker } from '@omnibus/core';
import { assignedTo } from './assignment.ts';
import { type RedisClient, runScript } from './connection.ts';
import type { TopicKeys } from './keys.ts';
import type { RedisOptions } from './options.ts';
import type { Partition } from './partition.ts';

export interface OwnershipHooks {
  /** A partition became ours: read it (after taking back its pending entries). */
  acquired(partition: Partition): void;
  /** A Redis call failed; `lost` when a lease ran out under us. */
  trouble(error: unknown, what: string): void;
  /** Something changed that the fetch loop may act on. */
  changed(): void;
  /** The member registry answered: Redis is reachable. */
  healthy(): void;
}

/**
 * Who reads which partition of a (topic, group). Every `heartbeatIntervalMs` an instance:
 *
 * 1. refreshes its entry in the group's member registry (a sorted set scored by expiry on Redis's clock) and
 *    reads the live members;
 * 2. computes, like every other member from the same list, the partitions it should own ({@link assignedTo});
 * 3. renews the leases it holds (PEXPIRE only while the lease still holds its consumer name);
 * 4. gives up partitions it should no longer own, or whose lease it may have lost: revoke them in the
 *    tracker (the core hands back what has not started), wait until every delivery of them has settled
 *    (running handlers finish and their acks are written), and only then delete the lease;
 * 5. tries to take partitions it should own that are free (SET NX PX). A partition still held — by an
 *    instance draining it, or by a dead one until its lease expires — is tried again shortly.
 */
export class Ownership {
  readonly #client: RedisClient;
  readonly #options: RedisOptions;
  readonly #keys: TopicKeys;
  readonly #group: string;
  readonly #member: string;
  readonly #partitions: Partition[];
  readonly #tracker: PartitionTracker<number>;
  readonly #hooks: OwnershipHooks;
  readonly #margin: number;
  #target = new Set<number>();
  #acquisitions = 0;
  #ticking: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    client: RedisClient,
    options: RedisOptions,
    keys: TopicKeys,
    group: string,
    member: string,
    partitions: Partition[],
    tracker: PartitionTracker<number>,
    hooks: OwnershipHooks,
  ) {
    this.#client = client;
    this.#options = options;
    this.#keys = keys;
    this.#group = group;
    this.#member = member;
    this.#partitions = partitions;
    this.#tracker = tracker;
    this.#hooks = hooks;
    // Room for clock-rate differences and a renewal that takes long to arrive.
    this.#margin = Math.max(options.heartbeatIntervalMs, options.leaseMs / 5);
  }

  /** True once every partition this instance should own is owned. */
  get settled(): boolean {
    return [...this.#target].every((p) => this.#partitions[p]!.state === 'owned');
  }

  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    const sentAt = performance.now();
    try {
      const members = await runScript<string[]>(
        this.#client,
        'omnibusHeartbeat',
        [this.#keys.members(this.#group)],
        [this.#member, this.#options.leaseMs, this.#stopped ? '1' : '0'],
      );
      this.#target = this.#stopped
        ? new Set()
        : assignedTo(this.#member, members.map(String), this.#options.partitions);
      this.#hooks.healthy();
    } catch (error) {
      this.#hooks.trouble(error, 'refreshing the member registry');
    }
    await Promise.all(this.#partitions.map((p) => this.#renew(p, sentAt)));
    for (const p of this.#partitions) {
      if (p.state !== 'owned') continue;
      if (performance.now() >= p.validUntil) {
        this.#hooks.trouble(
          new Error(`the lease of partition ${p.index} ran out before it was renewed`),
          'lost',
        );
        void this.leave(p);
      } else if (!this.#target.has(p.index)) void this.leave(p);
    }
    await this.#trim();
    this.#acquireMissing();
  }

  async #renew(p: Partition, sentAt: number): Promise<void> {
    const consumer = p.consumer;
    if (!consumer || (p.state !== 'owned' && p.state !== 'leaving')) return;
    try {
      const renewed = await runScript<number>(
        this.#client,
        'omnibusRenew',
        [p.lease],
        [consumer, this.#options.leaseMs],
      );
      if (p.consumer !== consumer) return;
      if (renewed === 1) p.validUntil = sentAt + this.#options.leaseMs - this.#margin;
      else if (p.state === 'owned') {
        this.#hooks.trouble(new Error(`another instance holds the lease of partition ${p.index}`), 'lost');
        void this.leave(p);
      }
    } catch (error) {
      this.#hooks.trouble(error, `renewing the lease of partition ${p.index}`);
    }
  }

  /** Trims, on the partitions this instance owns and acknowledged entries on, what every group acknowledged. */
  async #trim(): Promise<void> {
    const due = this.#partitions.filter((p) => p.state === 'owned' && p.acked > 0);
    await Promise.all(
      due.map(async (p) => {
        p.acked = 0;
        await runScript(this.#client, 'omnibusTrim', [p.stream], []).catch((error: unknown) =>
          this.#hooks.trouble(error, `trimming partition ${p.index}`),
        );
      }),
    );
  }

  #acquireMissing(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#stopped) return;
    const missing = [...this.#target].map((p) => this.#partitions[p]!).filter((p) => p.state !== 'owned');
    for (const p of missing) if (p.state === 'free') void this.#acquire(p);
    if (missing.length > 0) {
      this.#retry = setTimeout(
        () => this.#acquireMissing(),
        Math.max(50, this.#options.heartbeatIntervalMs / 5),
      );
      this.#retry.unref();
    }
  }

  async #acquire(p: Partition): Promise<void> {
    if (this.#tracker.inFlight(p.index) > 0) return; // an earlier ownership is still settling
    p.state = 'acquiring';
    const consumer = `${this.#member}#${++this.#acquisitions}`;
    const sentAt = performance.now();
    try {
      const taken = await runScript<number>(
        this.#client,
        'omnibusAcquire',
        [p.lease],
        [consumer, `${this.#member}#`, this.#options.leaseMs],
      );
      if (taken !== 1 || this.#stopped) {
        p.state = 'free';
        if (taken === 1) await this.#release(p, consumer);
        return;
      }
      p.consumer = consumer;
      p.validUntil = sentAt + this.#options.leaseMs - this.#margin;
      p.reclaim = 'wanted';
      p.idle = false;
      p.state = 'owned';
      this.#tracker.assign([p.index]);
      this.#hooks.acquired(p);
    } catch (error) {
      p.state = 'free';
      this.#hooks.trouble(error, `taking the lease of partition ${p.index}`);
    }
  }

  /**
   * Gives a partition up: nothing more of it starts, running handlers finish and their acks are written,
   * then the lease goes — so the next owner starts exactly where this one stopped.
   */
  async leave(p: Partition): Promise<void> {
    if (p.state !== 'owned') return;
    const consumer = p.consumer!;
    p.state = 'leaving';
    this.#hooks.changed();
    await this.#tracker.drain([p.index]);
    while (p.reading) await new Promise((resolve) => setTimeout(resolve, 5));
    if (p.consumer !== consumer) return;
    await this.#release(p, consumer);
    p.state = 'free';
    p.consumer = undefined;
    p.reclaim = undefined;
    this.#tracker.assign([p.index]);
    this.#acquireMissing();
  }

  async #release(p: Partition, consumer: string): Promise<void> {
    await runScript(this.#client, 'omnibusRelease', [p.lease, p.stream], [consumer, this.#group]).catch(
      () => {
        // Unreachable Redis: the lease expires by itself.
      },
    );
  }

  /** No more acquisitions; leases are still renewed (the core may still be finishing handlers). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
  }

  /** Leaves the member registry and drops every lease this instance holds, settled or not. */
  async close(): Promise<void> {
    this.stop();
    await this.#ticking;
    const held = this.#partitions.filter((p) => p.consumer !== undefined);
    this.#tracker.revoke(held.map((p) => p.index));
    await Promise.all(
      held.map(async (p) => {
        const consumer = p.consumer!;
        p.state = 'leaving';
        await this.#release(p, consumer);
        p.state = 'free';
        p.consumer = undefined;
      }),
    );
    await runScript(
      this.#client,
      'omnibusHeartbeat',
      [this.#keys.members(this.#group)],
      [this.#member, this.#options.leaseMs, '1'],
    ).catch(() => {});
  }
}
