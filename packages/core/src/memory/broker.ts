import type { Delivery, OutgoingMessage } from '../transport.ts';

/**
 * A process-local broker with Kafka-like groups: each (topic, group) keeps its own copy of every event,
 * split into partitions by key. A partition is owned by one member of the group at a time and hands its
 * events over strictly in order; when ownership moves, the new owner starts only after the old one has
 * settled everything it held, so per-key order survives rebalances. Unsettled events of a member that
 * leaves (or crashes) go back to the front of their partition.
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
  onDelivery: (delivery: Delivery) => unknown;
}

interface DeliveryRecord {
  message: StoredMessage;
  partition: Partition;
  member: Member;
}

interface Partition {
  queue: StoredMessage[];
  owner: Member | undefined;
  /** Set while ownership waits for the old owner to settle its in-flight deliveries. */
  handover: { to: Member | undefined } | undefined;
  inFlight: number;
}

class Group {
  readonly partitions: Partition[];
  readonly members: Member[] = [];
  #pumpScheduled = false;

  constructor(partitionCount: number) {
    this.partitions = Array.from({ length: partitionCount }, () => ({
      queue: [],
      owner: undefined,
      handover: undefined,
      inFlight: 0,
    }));
  }

  append(message: StoredMessage, partition: number): void {
    this.partitions[partition]!.queue.push(message);
    this.schedulePump();
  }

  rebalance(): void {
    const active = this.members.filter((m) => !m.stopped);
    this.partitions.forEach((partition, index) => {
      const target = active.length > 0 ? active[index % active.length] : undefined;
      if (partition.handover ? partition.handover.to === target : partition.owner === target) return;
      if (partition.owner && partition.inFlight > 0) partition.handover = { to: target };
      else {
        partition.owner = target;
        partition.handover = undefined;
      }
    });
    this.schedulePump();
  }

  settle(record: DeliveryRecord, requeue: boolean): void {
    const { partition, member, message } = record;
    if (!member.unsettled.delete(record)) return;
    partition.inFlight--;
    if (requeue) {
      // Back in sequence order, ahead of anything published later.
      const at = partition.queue.findIndex((m) => m.seq > message.seq);
      partition.queue.splice(at === -1 ? partition.queue.length : at, 0, message);
    }
    if (partition.handover && partition.inFlight === 0) {
      partition.owner = partition.handover.to;
      partition.handover = undefined;
    }
    this.schedulePump();
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
        const record: DeliveryRecord = { message, partition, member: owner };
        owner.unsettled.add(record);
        partition.inFlight++;
        owner.onDelivery(this.#delivery(record));
        progressed = true;
      }
    }
  }

  #delivery(record: DeliveryRecord): Delivery {
    const { message } = record;
    return {
      key: message.key,
      body: message.body,
      headers: { ...message.headers },
      deliveryCount: message.deliveries,
      ack: async () => this.settle(record, false),
      release: async () => this.settle(record, true),
    };
  }
}

export class MemoryBroker {
  readonly #topics = new Map<string, Map<string, Group>>();
  readonly #partitionCount: number;
  #seq = 0;
  #roundRobin = 0;

  constructor(partitionCount: number) {
    this.#partitionCount = partitionCount;
  }

  ensureGroup(topic: string, group: string): Group {
    const groups = this.#topics.get(topic) ?? new Map<string, Group>();
    this.#topics.set(topic, groups);
    const state = groups.get(group) ?? new Group(this.#partitionCount);
    groups.set(group, state);
    return state;
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
        : hashKey(message.key) % this.#partitionCount;
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
    const member: Member = { maxInFlight, unsettled: new Set(), stopped: false, onDelivery };
    group.members.push(member);
    group.rebalance();
    return {
      stop: () => {
        if (member.stopped) return;
        member.stopped = true;
        group.rebalance();
      },
      leave: () => {
        const index = group.members.indexOf(member);
        if (index === -1) return;
        group.members.splice(index, 1);
        member.stopped = true;
        for (const record of [...member.unsettled]) group.settle(record, true);
        group.rebalance();
      },
    };
  }
}

/** FNV-1a: cheap, stable across processes and runs. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
