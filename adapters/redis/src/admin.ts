import type { AdminFactory, TransportAdmin } from '@omnibus/core';
import { closeClient, openClient } from './connection.ts';
import { toBrokerError } from './errors.ts';
import { TopicKeys } from './keys.ts';
import { parseRedisUrl } from './options.ts';

/**
 * Admin operations for tools and tests (`createAdmin` of `@omnibus/core` loads it). Deleting a topic
 * deletes its partition streams (entries and consumer groups), the groups' leases and member registries,
 * and the topic's records — for the groups given and every group `provision` recorded on the topic.
 */
export const createAdmin: AdminFactory = async (url, text, transportOptions) => {
  const options = parseRedisUrl(text ?? url);
  const client = await openClient(options, 'admin', transportOptions?.logger);
  const admin: TransportAdmin = {
    async deleteTopic(topic, groups) {
      const keys = new TopicKeys(options.prefix, topic);
      try {
        const recorded = Number(await client.hget(keys.meta, 'partitions'));
        const partitions = Math.max(recorded || 0, options.partitions);
        const every = new Set([...groups, ...(await client.smembers(keys.groups))]);
        const doomed = [keys.meta, keys.groups];
        for (const group of every) doomed.push(keys.members(group));
        for (let p = 0; p < partitions; p++) {
          doomed.push(keys.stream(p));
          for (const group of every) doomed.push(keys.lease(p, group));
        }
        // One key per command: on a cluster the keys live on different nodes.
        await Promise.all(doomed.map((key) => client.del(key)));
      } catch (error) {
        throw toBrokerError(error, `deleting topic ${topic}`, options);
      }
    },
    close: () => closeClient(client),
  };
  return admin;
};
