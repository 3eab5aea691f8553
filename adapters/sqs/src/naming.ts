import { createHash } from 'node:crypto';

/**
 * Queue names. SQS allows 80 characters (here at most 16 + 1 + 25 + 2 + 25 + 5 = 74) of letters, digits, `-` and `_` (a FIFO queue's name ends with
 * `.fifo`, counted), and topic and group names are free text (`orders.placed`), so each part is kept
 * readable where it can be and always followed by a hash of its exact text:
 *
 *     <prefix>-<topic, ≤ 16 safe chars>-<8 hex>--<group, ≤ 16 safe chars>-<8 hex>[.fifo]
 *
 * e.g. `omnibus-orders_placed-1c2a7e0b--payments-9f8e7d6c.fifo`. Every queue of a topic starts with
 * {@link topicQueuePrefix}, which is how a publisher finds the topic's groups (ListQueues by prefix).
 */
export function queueName(prefix: string, topic: string, group: string, fifo: boolean): string {
  return `${topicQueuePrefix(prefix, topic)}${part(group)}${fifo ? '.fifo' : ''}`;
}

/** What every queue name of `topic` starts with, and nothing else's does (up to a hash collision). */
export function topicQueuePrefix(prefix: string, topic: string): string {
  return `${prefix}-${part(topic)}--`;
}

/** Whether a queue name found by prefix belongs to this topic and kind (not a longer topic's name). */
export function isTopicQueue(name: string, topicPrefix: string, fifo: boolean): boolean {
  if (!name.startsWith(topicPrefix)) return false;
  const rest = name.slice(topicPrefix.length);
  return fifo
    ? /^[A-Za-z0-9_]{0,16}-[0-9a-f]{8}\.fifo$/.test(rest)
    : /^[A-Za-z0-9_]{0,16}-[0-9a-f]{8}$/.test(rest);
}

function part(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 16);
  return `${safe}-${createHash('sha256').update(text).digest('hex').slice(0, 8)}`;
}

/** The name a queue URL ends with. */
export function nameOfQueueUrl(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}
