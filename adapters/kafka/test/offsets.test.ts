import { describe, expect, it } from 'vitest';
import { OffsetTracker } from '../src/offsets.ts';

describe('OffsetTracker: commit only below the lowest unsettled offset', () => {
  it('commits nothing while the first delivery is unsettled, however many later ones are acked', () => {
    const t = new OffsetTracker();
    for (const o of [5, 6, 7, 8]) t.add(o);
    expect(t.ack(6)).toBe(false);
    expect(t.ack(8)).toBe(false);
    expect(t.pendingCommit()).toBe(5);
    expect(t.unsettled).toBe(2);
  });

  it('jumps past every acked offset once the gap fills', () => {
    const t = new OffsetTracker();
    for (const o of [5, 6, 7, 8]) t.add(o);
    t.ack(6);
    t.ack(8);
    expect(t.ack(5)).toBe(true);
    expect(t.pendingCommit()).toBe(7);
    t.ack(7);
    expect(t.pendingCommit()).toBe(9);
    expect(t.unsettled).toBe(0);
  });

  it('handles offset gaps (compacted or transactional topics)', () => {
    const t = new OffsetTracker();
    for (const o of [10, 13, 20]) t.add(o);
    t.ack(10);
    expect(t.pendingCommit()).toBe(13);
    t.ack(20);
    t.ack(13);
    expect(t.pendingCommit()).toBe(21);
  });

  it('a released delivery holds the commit point (Kafka redelivers it after a restart)', () => {
    const t = new OffsetTracker();
    for (const o of [0, 1, 2]) t.add(o);
    t.ack(0);
    // offset 1 is released: never acked
    t.ack(2);
    expect(t.pendingCommit()).toBe(1);
  });

  it('reports a commit once, until the safe offset moves again', () => {
    const t = new OffsetTracker();
    t.add(0);
    t.add(1);
    t.ack(0);
    expect(t.pendingCommit()).toBe(1);
    t.markCommitted(1);
    expect(t.pendingCommit()).toBeUndefined();
    t.ack(1);
    expect(t.pendingCommit()).toBe(2);
  });

  it('ignores double and unknown acks, rejects decreasing offsets, remembers where to resume', () => {
    const t = new OffsetTracker();
    t.add(3);
    expect(t.ack(3)).toBe(true);
    expect(t.ack(3)).toBe(false);
    expect(t.ack(99)).toBe(false);
    expect(() => t.add(2)).toThrow(/must increase/);
    expect(t.nextFetchOffset).toBe(4);
  });

  it('stays correct over many random out-of-order acks', () => {
    const t = new OffsetTracker();
    const offsets = Array.from({ length: 2000 }, (_, i) => i * 2);
    for (const o of offsets) t.add(o);
    let commit = t.pendingCommit();
    expect(commit).toBe(0);
    t.markCommitted(0);
    const acked = new Set<number>();
    for (const o of [...offsets].sort(() => Math.random() - 0.5)) {
      t.ack(o);
      acked.add(o);
      const pending = t.pendingCommit();
      if (pending !== undefined) {
        commit = pending;
        t.markCommitted(pending);
      }
      expect(commit).toBe(offsets.find((x) => !acked.has(x)) ?? 3999);
    }
    expect(t.unsettled).toBe(0);
  });
});
