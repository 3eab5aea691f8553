import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

const NAME = 'OmnibusRoundRobin';

/**
 * Round-robin of each topic's partitions over the members that subscribed to that topic.
 *
 * Why not kafkajs's RoundRobinAssigner: it spreads every topic of the group over every member whatever
 * each one subscribed to, and a member silently drops partitions of topics it did not subscribe to. One
 * service group reading two topics (`billing` on orders and refunds) then left about half of each topic's
 * partitions unconsumed. Java's RoundRobinAssignor, like this one, only hands a member its own topics.
 * All members of a group must use it (a plain kafkajs consumer in the same group is refused by Kafka with
 * INCONSISTENT_GROUP_PROTOCOL rather than mis-assigned).
 */
export const subscriptionAwareRoundRobin: PartitionAssigner = ({ cluster }) => ({
  name: NAME,
  version: 0,
  // kafkajs passes `topics` = the leader's own subscriptions only; the members' metadata is the truth.
  async assign({ members }) {
    const subscribers = new Map<string, string[]>();
    for (const member of members) {
      const metadata = AssignerProtocol.MemberMetadata.decode(member.memberMetadata);
      for (const topic of metadata?.topics ?? [])
        subscribers.set(topic, [...(subscribers.get(topic) ?? []), member.memberId]);
    }
    const topics = [...subscribers.keys()].sort();
    // The leader only refreshed metadata for its own topics: fetch partitions of everyone's.
    await cluster.addMultipleTargetTopics(topics);
    const assignment = new Map<string, Record<string, number[]>>();
    let turn = 0; // carried across topics so single-partition topics do not all land on one member
    for (const topic of topics) {
      const memberIds = (subscribers.get(topic) ?? []).sort();
      const partitions = cluster
        .findTopicPartitionMetadata(topic)
        .map((p) => p.partitionId)
        .sort((a, b) => a - b);
      for (const partition of partitions) {
        const memberId = memberIds[turn++ % memberIds.length]!;
        const mine = assignment.get(memberId) ?? {};
        mine[topic] = [...(mine[topic] ?? []), partition];
        assignment.set(memberId, mine);
      }
    }
    return members.map(({ memberId }) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: assignment.get(memberId) ?? {},
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});
