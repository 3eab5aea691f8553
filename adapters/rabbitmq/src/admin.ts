import type { AdminFactory } from '@omnibus/core';
import { ConnectionManager } from './connection.ts';
import { parseRabbitMqUrl } from './options.ts';
import { Topology } from './topology.ts';

/**
 * Admin operations for tools and tests (`createAdmin` of `@omnibus/core` loads it): deleting a topic
 * deletes its exchange and the groups' queues, messages included.
 */
export const createAdmin: AdminFactory = async (url) => {
  const { target, options } = parseRabbitMqUrl(url);
  const connection = new ConnectionManager(target, options);
  await connection.connect();
  const topology = new Topology(connection, options);
  return {
    deleteTopic: (topic, groups) =>
      topology.deleteGroups(topic, groups, Date.now() + options.publishTimeoutMs),
    async close() {
      await topology.close();
      await connection.close();
    },
  };
};
