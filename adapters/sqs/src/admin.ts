import type { AdminFactory, TransportAdmin } from '@omnibus/core';
import { toBrokerError } from './errors.ts';
import { parseSqsUrl } from './options.ts';
import { Limiter, openClient, Queues } from './queues.ts';

/**
 * Admin operations for tools and tests (`createAdmin` of `@omnibus/core` loads it). Deleting a topic
 * deletes the queue of every group given and of every group found by the topic's name prefix, messages
 * included. (AWS lets a deleted queue's name be used again only after 60 s.)
 */
export const createAdmin: AdminFactory = async (url, text, transportOptions) => {
  const options = parseSqsUrl(text ?? url);
  const { client, sdk } = await openClient(options);
  const queues = new Queues(
    client,
    sdk,
    options,
    new Limiter(options.maxConcurrency),
    transportOptions?.logger,
  );
  const admin: TransportAdmin = {
    async deleteTopic(topic, groups) {
      try {
        await queues.deleteTopic(topic, groups);
      } catch (error) {
        throw toBrokerError(error, `deleting the queues of topic ${topic}`, options);
      }
    },
    close: async () => client.destroy(),
  };
  return admin;
};
