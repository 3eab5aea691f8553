import { hashKey } from '@omnibus/core';

/**
 * Which member should own each partition, computed alike by every member from the same member list:
 * rendezvous hashing (each partition prefers the member with the highest hash of member and partition) with
 * bounded load (no member takes more than ceil(partitions / members)). A member joining or leaving moves
 * few partitions, and the split stays even. Returns the partitions `member` should own.
 */
export function assignedTo(member: string, members: readonly string[], partitions: number): Set<number> {
  const sorted = [...new Set([...members, member])].sort();
  const cap = Math.ceil(partitions / sorted.length);
  const load = new Map(sorted.map((m) => [m, 0]));
  const mine = new Set<number>();
  for (let p = 0; p < partitions; p++) {
    let best: string | undefined;
    let bestScore = -1;
    for (const candidate of sorted) {
      if (load.get(candidate)! >= cap) continue;
      const score = hashKey(`${candidate}\u0000${p}`);
      if (score > bestScore) {
        best = candidate;
        bestScore = score;
      }
    }
    load.set(best!, load.get(best!)! + 1);
    if (best === member) mine.add(p);
  }
  return mine;
}
