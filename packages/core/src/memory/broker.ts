import { partitionOf } from '../kit/hash.ts';
import { PartitionTracker } from '../kit/partitions.ts';
import type { Delivery, OutgoingMessage } from '../transport.ts';

/**
 * A process-local broker with Kafka-like groups: each (topic, group) keeps its own copy of every event,
 * split into partitions by key. A partition is owned by one member of the group at a time and hands its
 * events over strictly in order. When ownership moves, the old owner drains the partition first (its
 * {@link PartitionTracker}: handlers not started are handed back, running ones finish) and only then does
 * the new owner receive anything, so a key never runs on two members at once. Unsettled events of a
 * member that leaves (or crashes) go back to the front of their partition.
 */
interface StoredMessage {
  seq: number;
  key?: string;
  body: Uint8Array;
  headers: Record<string, string>;
  deliveries: number;
}

export interface MemberHandle {
  /** Stop taking new deliveries; settled ones still count. */
  stop(): void;
  /** Leave the group; everything unsettled goes back to the partitions. */
  leave(): void;
}

interface Member {
  maxInFlight: number;
  unsettled: Set<DeliveryRecord>;
  stopped: boolean;
  tracker: PartitionTracker<number>;
  onDelivery: (delivery: Delivery) => unknown;
}

interface DeliveryRecord {
  message: StoredMessage;
  partition: Partition;
  member: Member;
  /** With a lease: when the broker takes the delivery back unless it is touched or settled. */
  expiresAt: number;
}

interface Partition {
  index: number;
  queue: StoredMessage[];
  owner: Member | undefined;
  /** Set while the owner drains the partition before it moves to `to`. */
  handover: { to: Member | undefined } | undefined;
}

class Group {
  readonly partitions: Partition[];
  readonly members: Member[] = [];
  readonly #leaseMs: number | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;

  constructor(partitionCount: number, leaseMs: number | undefined) {
    this.#leaseMs = leaseMs;
    this.partitions = Array.from({ length: partitionCount }, (_, index) => ({
      index,
      queue: [],
      owner: undefined,
      handover: undefined,
    }));
  }

  /** Events not acknowledged yet: waiting in the partitions, or handed to a member and not settled. */
  get lag(): number {
    let lag = 0;
    for (const partition of this.partitions) lag += partition.queue.length;
    for (const member of this.members) lag += member.unsettled.size;
    return lag;
  }

  append(message: StoredMessage, partition: number): void {
    this.partitions[partition]!.queue.push(message);
    this.schedulePump();
  }

  rebalance(): void {
    const active = this.members.filter((m) => !m.stopped);
    for (const partition of this.partitions) {
      const target = active.length > 0 ? active[partition.index % active.length] : undefined;
      const { owner } = partition;
      if (partition.handover) {
        if (target === owner) {
          // Back to the owner that is draining it: keep it there.
          partition.handover = undefined;
          owner?.tracker.assign([partition.index]);
        } else {
          partition.handover.to = target;
        }
      } else if (owner !== target) {
        if (owner && owner.tracker.inFlight(partition.index) > 0) this.#drain(partition, owner, target);
        else this.#assign(partition, target);
      }
    }
    this.schedulePump();
  }

  #drain(partition: Partition, owner: Member, to: Member | undefined): void {
    partition.handover = { to };
    void owner.tracker.drain([partition.index]).then(() => {
      if (partition.owner !== owner || !partition.handover) return; // cancelled, or the owner left
      this.#assign(partition, partition.handover.to);
      this.schedulePump();
    });
  }

  #assign(partition: Partition, to: Member | undefined): void {
    partition.owner = to;
    partition.handover = undefined;
    to?.tracker.assign([partition.index]);
  }

  settle(record: DeliveryRecord, requeue: boolean): void {
    const { partition, member, message } = record;
    if (!member.unsettled.delete(record)) return;
    if (requeue) {
      // Back in sequence order, ahead of anything published later.
      const at = partition.queue.findIndex((m) => m.seq > message.seq);
      partition.queue.splice(at === -1 ? partition.queue.length : at, 0, message);
    }
    this.schedulePump();
  }

  leave(member: Member): void {
    const index = this.members.indexOf(member);
    if (index === -1) return;
    this.members.splice(index, 1);
    member.stopped = true;
    for (const record of [...member.unsettled]) this.settle(record, true);
    // Gone members drain nothing: what they held is back in the queues.
    for (const partition of this.partitions) {
      if (partition.owner === member) this.#assign(partition, partition.handover?.to);
    }
    this.rebalance();
  }

  schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Hands out messages one partition at a time, round-robin, so one busy key cannot take every slot. */
  #pump(): void {
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (const partition of this.partitions) {
        const owner = partition.owner;
        if (!owner || owner.stopped || partition.handover || partition.queue.length === 0) continue;
        if (owner.unsettled.size >= owner.maxInFlight) continue;
        const message = partition.queue.shift()!;
        message.deliveries++;
        const record: DeliveryRecord = {
          message,
          partition,
          member: owner,
          expiresAt: Date.now() + (this.#leaseMs ?? 0),
        };
        owner.unsettled.add(record);
        owner.onDelivery(this.#delivery(record));
        progressed = true;
      }
    }
    if (this.#leaseMs !== undefined)
      this.#leaseTimer ??= setInterval(() => this.#expire(), this.#leaseMs / 4);
  }

  /** Like a visibility timeout: a delivery neither settled nor touched within the lease goes back to its queue. */
  #expire(): void {
    const now = Date.now();
    let held = 0;
    for (const member of this.members) {
      for (const record of member.unsettled) {
        if (record.expiresAt <= now) this.settle(record, true);
        else held++;
      }
    }
    if (held === 0) {
      clearInterval(this.#leaseTimer);
      this.#leaseTimer = undefined;
    }
  }

  #delivery(record: DeliveryRecord): Delivery {
    const { message, member, partition } = record;
    const leaseMs = this.#leaseMs;
    return member.tracker.track(
      partition.index,
      {
        key: message.key,
        body: message.body,
        headers: { ...message.headers },
        deliveryCount: message.deliveries,
        ...(leaseMs !== undefined && {
          touch: async () => {
            if (!member.unsettled.has(record))
              throw new Error('the lease ran out: the event went back to its queue');
            record.expiresAt = Date.now() + leaseMs;
          },
        }),
      },
      {
        ack: async () => this.settle(record, false),
        release: async () => this.settle(record, true),
      },
    );
  }
}

export class MemoryBroker {
  readonly #topics = new Map<string, Map<string, Group>>();
  readonly #partitionCount: number;
  readonly #leaseMs: number | undefined;
  #seq = 0;
  #roundRobin = 0;

  constructor(partitionCount: number, leaseMs?: number) {
    this.#partitionCount = partitionCount;
    this.#leaseMs = leaseMs;
  }

  /** The visibility timeout of this broker's deliveries, if it has one. */
  get leaseMs(): number | undefined {
    return this.#leaseMs;
  }

  ensureGroup(topic: string, group: string): Group {
    const groups = this.#topics.get(topic) ?? new Map<string, Group>();
    this.#topics.set(topic, groups);
    const state = groups.get(group) ?? new Group(this.#partitionCount, this.#leaseMs);
    groups.set(group, state);
    return state;
  }

  /** The group's {@link Group.lag}, or undefined when the group does not exist. */
  lag(topic: string, group: string): number | undefined {
    return this.#topics.get(topic)?.get(group)?.lag;
  }

  deleteGroups(topic: string, groups: string[]): void {
    const state = this.#topics.get(topic);
    for (const group of groups) state?.delete(group);
    if (state?.size === 0) this.#topics.delete(topic);
  }

  /** Copies the message to every group of the topic; false when no group exists to keep it. */
  publish(message: OutgoingMessage): boolean {
    const groups = this.#topics.get(message.topic);
    if (!groups || groups.size === 0) return false;
    const partition =
      message.key === undefined
        ? this.#roundRobin++ % this.#partitionCount
        : partitionOf(message.key, this.#partitionCount);
    for (const group of groups.values()) {
      group.append(
        {
          seq: this.#seq++,
          key: message.key,
          body: message.body,
          headers: { ...message.headers },
          deliveries: 0,
        },
        partition,
      );
    }
    return true;
  }

  join(
    topic: string,
    groupName: string,
    maxInFlight: number,
    onDelivery: (delivery: Delivery) => unknown,
  ): MemberHandle {
    const group = this.ensureGroup(topic, groupName);
    const member: Member = {
      maxInFlight,
      unsettled: new Set(),
      stopped: false,
      tracker: new PartitionTracker(),
      onDelivery,
    };
    group.members.push(member);
    group.rebalance();
    return {
      stop: () => {
        if (member.stopped) return;
        member.stopped = true;
        group.rebalance();
      },
      leave: () => group.leave(member),
    };
  }
}
