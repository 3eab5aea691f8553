export { ADAPTER_NAME, createTransport, RabbitMqTransport } from './adapter.ts';
export { DEFAULT_OPTIONS, parseRabbitMqUrl, type RabbitMqOptions } from './options.ts';
export { exchangeName, membersQueueName, partitionOf, partitionQueueName } from './topology.ts';
