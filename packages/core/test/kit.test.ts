import { describe, expect, it } from 'vitest';
import {
  type Delivery,
  hashKey,
  type OutgoingMessage,
  PartitionTracker,
  partitionOf,
  settleOnce,
  type Transport,
  within,
} from '../src/index.ts';
import { publishAll } from '../src/publish-batch.ts';

/** The reference: FNV-1a over the bytes Node's own UTF-8 encoder produces. */
function fnvOfBytes(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

describe('hashKey', () => {
  it('is FNV-1a over UTF-8 bytes, for ASCII, multi-byte, astral and lone-surrogate keys', () => {
    const keys = ['', 'a', 'order-42', 'Grüße', '世界', '🚀x', 'a\uD800b', '\uDC00', 'x'.repeat(300)];
    for (let i = 0; i < 500; i++) {
      keys.push(
        String.fromCharCode(
          ...Array.from({ length: 1 + (i % 9) }, () => Math.floor(Math.random() * 0x10000)),
        ),
      );
    }
    for (const key of keys) expect(hashKey(key), JSON.stringify(key)).toBe(fnvOfBytes(key));
  });
  it('known vectors (FNV-1a 32): "" and "a"', () => {
    expect(hashKey('')).toBe(0x811c9dc5);
    expect(hashKey('a')).toBe(0xe40c292c);
    expect(partitionOf('a', 16)).toBe(0xe40c292c % 16);
  });
});

const noop = async () => {};

describe('settleOnce', () => {
  it('lets only the first ack or release reach the broker', async () => {
    const calls: string[] = [];
    const delivery = settleOnce(
      { body: new Uint8Array(), headers: {} },
      { ack: async () => void calls.push('ack'), release: async () => void calls.push('release') },
    );
    await delivery.release();
    await delivery.ack();
    await delivery.release();
    expect(calls).toEqual(['release']);
  });
});

describe('PartitionTracker', () => {
  const track = (tracker: PartitionTracker, partition: number): Delivery =>
    tracker.track(partition, { body: new Uint8Array(), headers: {} }, { ack: noop, release: noop });

  it('drain waits for the partition’s deliveries to settle and revokes them meanwhile', async () => {
    const tracker = new PartitionTracker();
    const a = track(tracker, 1);
    const b = track(tracker, 1);
    const other = track(tracker, 2);
    let drained = false;
    const draining = tracker.drain([1]).then((ok) => {
      drained = ok;
    });
    expect(a.revoked).toBe(true);
    expect(other.revoked).toBe(false);
    await a.ack();
    await a.ack(); // counted once
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBe(false);
    await b.release();
    await draining;
    expect(drained).toBe(true);
    expect(tracker.inFlight()).toBe(1);
    expect(tracker.busy()).toEqual([2]);
  });

  it('drain gives up after its time-out; assign takes a partition back', async () => {
    const tracker = new PartitionTracker();
    const a = track(tracker, 0);
    expect(await tracker.drain([0], 20)).toBe(false);
    tracker.assign([0]);
    expect(a.revoked).toBe(false);
    expect(await tracker.settled([5])).toBe(true);
  });
});

describe('publishAll without a batch-capable transport', () => {
  it('keeps each key in array order and stops a key after its first failure', async () => {
    const stored: string[] = [];
    const transport = {
      name: 'fake',
      publish: async (m: OutgoingMessage) => {
        await new Promise((resolve) => setTimeout(resolve, m.key === 'a' ? 5 : 1));
        if (m.headers.fail) throw new Error(`refused ${m.headers.n}`);
        stored.push(`${m.key}:${m.headers.n}`);
      },
    } as unknown as Transport;
    const message = (key: string | undefined, n: number, fail = false): OutgoingMessage => ({
      topic: 't',
      key,
      body: new Uint8Array(),
      headers: { n: String(n), ...(fail && { fail: 'yes' }) },
    });
    const outcomes = await publishAll(transport, [
      message('a', 1),
      message('b', 2),
      message('a', 3),
      message('b', 4, true),
      message('b', 5),
      message(undefined, 6),
    ]);
    expect(stored.filter((s) => s.startsWith('a'))).toEqual(['a:1', 'a:3']);
    expect(stored).toContain('b:2');
    expect(stored).not.toContain('b:5');
    expect(outcomes.map((o) => o?.message)).toEqual([
      undefined,
      undefined,
      undefined,
      'refused 4',
      expect.stringMatching(/not sent: an earlier event of key "b" in this batch failed/),
      undefined,
    ]);
  });
});

describe('within', () => {
  it('is true when the promise settles in time, rejected too, and false when it does not', async () => {
    expect(await within(Promise.resolve(1), 50)).toBe(true);
    expect(await within(Promise.reject(new Error('no')), 50)).toBe(true);
    expect(await within(new Promise(() => {}), 20)).toBe(false);
    let late!: () => void;
    const pending = new Promise<void>((resolve) => (late = resolve));
    const waited = within(pending, 1_000);
    late();
    expect(await waited).toBe(true);
  });
});
