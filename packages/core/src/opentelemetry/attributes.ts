import type { Attributes } from '@opentelemetry/api';
import type { HandleContext, PublishContext } from '../middleware.ts';

/** `messaging.system` values the semantic conventions define, by adapter name; other adapters keep theirs. */
const SYSTEMS: Record<string, string> = { sqs: 'aws_sqs' };

export const messagingSystem = (transport: string): string => SYSTEMS[transport] ?? transport;

/** Attributes of a `send` span and of the sent-messages counter (OpenTelemetry messaging conventions). */
export function publishAttributes(context: PublishContext): Attributes {
  return {
    'messaging.system': messagingSystem(context.transport),
    'messaging.destination.name': context.topic,
    'messaging.operation.name': 'send',
    'messaging.operation.type': 'send',
  };
}

/** Attributes of a `process` span and of the consumer metrics. */
export function handleAttributes(context: HandleContext): Attributes {
  return {
    'messaging.system': messagingSystem(context.transport),
    'messaging.destination.name': context.topic,
    'messaging.consumer.group.name': context.group,
    'messaging.operation.name': 'process',
    'messaging.operation.type': 'process',
  };
}

/** Attributes of the consumer-lag gauge: the group's backlog on a topic. */
export function lagAttributes(transport: string, topic: string, group: string): Attributes {
  return {
    'messaging.system': messagingSystem(transport),
    'messaging.destination.name': topic,
    'messaging.consumer.group.name': group,
  };
}

/** `error.type` of the conventions: the error class, else `_OTHER`. */
export function errorType(error: unknown): string {
  return error instanceof Error ? error.name || error.constructor.name : '_OTHER';
}
