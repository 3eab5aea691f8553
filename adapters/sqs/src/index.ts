export { createSqsTransport, createTransport, SqsTransport, sqsCapabilities } from './adapter.ts';
export { createAdmin } from './admin.ts';
export { QueueMissingError, SQS } from './errors.ts';
export { queueName } from './naming.ts';
export { DEFAULT_OPTIONS, parseSqsUrl, redactSqsUrl, type SqsOptions } from './options.ts';
