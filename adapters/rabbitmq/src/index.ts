export { ADAPTER_NAME, createTransport, RabbitMqTransport } from './adapter.ts';
export { createAdmin } from './admin.ts';
export { DEFAULT_OPTIONS, parseRabbitMqUrl, type RabbitMqOptions } from './options.ts';
export { groupExchangeName } from './routing.ts';
export { exchangeName, membersQueueName, partitionQueueName } from './topology.ts';
