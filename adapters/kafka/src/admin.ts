import type { AdminFactory, TransportAdmin } from '@omnibus/core';
import { kafkaClient } from './adapter.ts';
import { toBrokerError } from './errors.ts';
import { parseKafkaUrl } from './options.ts';

/**
 * Admin operations for tools and tests (`createAdmin` of `@omnibus/core` loads it): deleting a topic
 * deletes its events; Kafka drops the groups' offsets for a deleted topic itself, and the groups may read
 * other topics, so they are left alone.
 */
export const createAdmin: AdminFactory = async (url, text, transportOptions) => {
  const options = parseKafkaUrl(text ?? url);
  const admin = (await kafkaClient(options, transportOptions?.logger)).admin();
  try {
    await admin.connect();
  } catch (error) {
    throw toBrokerError(error, 'connecting the admin client', options);
  }
  const operations: TransportAdmin = {
    async deleteTopic(topic) {
      try {
        await admin.deleteTopics({ topics: [topic] });
      } catch (error) {
        // Already gone is done (kafkajs reports it after its retries, as the cause).
        const e = error as { type?: string; cause?: { type?: string } };
        const unknown =
          e.type === 'UNKNOWN_TOPIC_OR_PARTITION' || e.cause?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
        if (!unknown) throw toBrokerError(error, `deleting ${topic}`, options);
      }
    },
    close: () => admin.disconnect(),
  };
  return operations;
};
