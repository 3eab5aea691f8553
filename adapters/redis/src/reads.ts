import { type RedisClient, runScript } from './connection.ts';
import type { Partition } from './partition.ts';

/** A stream entry as Redis returns it (Buffers: bodies are bytes). */
export type Entry = [id: Buffer, fields: Buffer[] | null];

/** What one fenced read of a partition found. */
export type ReadResult =
  /** Entries to hand over in order; `previous` holds reclaimed entries' delivery counts before this claim. */
  | { kind: 'entries'; entries: Entry[]; previous?: Map<string, number>; next?: string }
  /** Nothing new; `lastDelivered` is the group's position (for the blocking waiter), when asked for. */
  | { kind: 'empty'; lastDelivered?: string }
  /** Every pending entry has been taken back. */
  | { kind: 'reclaimed' }
  /** The lease no longer names this consumer: fencing refused the read. */
  | { kind: 'lost' }
  /** The group is gone (stream deleted, or Redis restarted without its data). */
  | { kind: 'no-group' };

/** Reads fail when the connection drops (see `send` in connection.ts). */
const READ = { buffers: true, failOnClose: true };

function refused(code: unknown): ReadResult {
  return code === -1 ? { kind: 'lost' } : { kind: 'no-group' };
}

/** XREADGROUP `>` of up to `count` new entries, inside the fencing script. */
export async function readNew(
  client: RedisClient,
  p: Partition,
  consumer: string,
  group: string,
  count: number,
  wantLastDelivered: boolean,
): Promise<ReadResult> {
  const reply = await runScript<[number, ...unknown[]]>(
    client,
    'omnibusRead',
    [p.stream, p.lease],
    [consumer, group, count, wantLastDelivered ? '1' : '0'],
    READ,
  );
  if (reply[0] === 1) return { kind: 'entries', entries: reply[1] as Entry[] };
  if (reply[0] === 0)
    return reply[1] ? { kind: 'empty', lastDelivered: String(reply[1]) } : { kind: 'empty' };
  return refused(reply[0]);
}

/**
 * One page of the group's pending entries of every consumer, from `from` (`wanted`: the oldest), claimed
 * for `consumer` in ID order (XPENDING + XCLAIM, inside the fencing script).
 */
export async function reclaimPage(
  client: RedisClient,
  p: Partition,
  consumer: string,
  group: string,
  from: string,
  count: number,
): Promise<ReadResult> {
  const reply = await runScript<[number, ...unknown[]]>(
    client,
    'omnibusReclaim',
    [p.stream, p.lease],
    [consumer, group, from === 'wanted' ? '-' : from, count],
    READ,
  );
  if (reply[0] === 2) return { kind: 'reclaimed' };
  if (reply[0] !== 1) return refused(reply[0]);
  const [, next, entries, ids, counts] = reply as [number, Buffer, Entry[], Buffer[], number[]];
  const previous = new Map(ids.map((id, i) => [id.toString(), Number(counts[i])]));
  return { kind: 'entries', entries, previous, next: next.toString() };
}
