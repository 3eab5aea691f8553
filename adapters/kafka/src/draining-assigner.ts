import type { PartitionAssigner } from 'kafkajs';
import { subscriptionAwareRoundRobin } from './assigner.ts';

const WRAPPED = Symbol('omnibus.beforeJoin');

interface Coordinator {
  joinGroup(request: unknown): Promise<unknown>;
  [WRAPPED]?: true;
}
interface GroupCluster {
  findGroupCoordinator(request: { groupId: string }): Promise<Coordinator>;
}

/**
 * The group assigner, plus the hook kafkajs lacks: Java's `onPartitionsRevoked`. Kafka's eager rebalance
 * takes every partition away from a member when it rejoins, so the member must let its in-flight events
 * settle (and commit them) *before* it sends JoinGroup — else the next owner starts a key's events while
 * this member still runs that key's handlers. kafkajs rejoins straight away; this wraps the JoinGroup call of
 * this consumer's own group coordinator (reached through the `cluster` kafkajs hands to every assigner) so
 * that it awaits `beforeJoin` first. Nothing outside this consumer is touched.
 */
export function drainingAssigner(beforeJoin: () => Promise<void>): PartitionAssigner {
  return (config) => {
    const cluster = config.cluster as unknown as GroupCluster;
    const find = cluster.findGroupCoordinator.bind(cluster);
    cluster.findGroupCoordinator = async (request) => {
      const coordinator = await find(request);
      if (!coordinator[WRAPPED]) {
        const join = coordinator.joinGroup.bind(coordinator);
        coordinator.joinGroup = async (joinRequest) => {
          await beforeJoin();
          return join(joinRequest);
        };
        coordinator[WRAPPED] = true;
      }
      return coordinator;
    };
    return subscriptionAwareRoundRobin(config);
  };
}
