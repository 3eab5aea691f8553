/** The adapter kit: chores several adapters share, so each lives once. */
export { hashKey, partitionOf } from './hash.ts';
export { assertPublishable } from './limits.ts';
export { PartitionTracker } from './partitions.ts';
export { type DeliveryInit, type SettleActions, settleOnce } from './settle.ts';
export { within } from './within.ts';
