import { PartitionTracker } from '@omnibus/core';
import { describe, expect, it } from 'vitest';
import { assignedTo } from '../src/assignment.ts';
import { LeasedDelivery, newPartition } from '../src/partition.ts';

const members = (n: number) => Array.from({ length: n }, (_, i) => `host:${1000 + i}:abcd`);

describe('partition assignment', () => {
  it('gives every partition to exactly one member, at most ceil(P / members) each, the same on every member', () => {
    for (const n of [1, 2, 3, 5, 16, 20]) {
      const list = members(n);
      const shares = list.map((m) => assignedTo(m, [...list].reverse(), 16));
      const all = shares.flatMap((s) => [...s]);
      expect(all.sort((a, b) => a - b)).toEqual([...Array(16).keys()]);
      for (const share of shares) expect(share.size).toBeLessThanOrEqual(Math.ceil(16 / n));
    }
  });

  it('moves few partitions when a member joins', () => {
    const before = members(3);
    const after = [...before, 'host:2000:ffff'];
    let moved = 0;
    for (const m of before) {
      const was = assignedTo(m, before, 16);
      const now = assignedTo(m, after, 16);
      moved += [...was].filter((p) => !now.has(p)).length;
    }
    // The newcomer's share (4) must move; a plain `p mod members` would move 12 of 16.
    expect(moved).toBeLessThanOrEqual(8);
    expect(assignedTo('host:2000:ffff', after, 16).size).toBeGreaterThanOrEqual(3);
  });
});

describe('leased deliveries', () => {
  it('report revoked once the lease may have run out, before any renewal failure is noticed', () => {
    const partition = newPartition(0, 's', 'l');
    partition.state = 'owned';
    partition.consumer = 'me#1';
    partition.validUntil = performance.now() + 60_000;
    const tracker = new PartitionTracker<number>();
    const inner = tracker.track(
      0,
      { body: new Uint8Array(0), headers: {} },
      {
        ack: async () => {},
        release: async () => {},
      },
    );
    const delivery = new LeasedDelivery(inner, partition, 'me#1');
    expect(delivery.revoked).toBe(false);
    partition.validUntil = performance.now() - 1; // the process slept past its lease
    expect(delivery.revoked).toBe(true);
    partition.validUntil = performance.now() + 60_000;
    partition.consumer = 'me#2'; // the partition was lost and taken again: old deliveries stay revoked
    expect(delivery.revoked).toBe(true);
  });
});
