export type { AvroInput, AvroSchema, AvroValue } from './avro-types.ts';
export {
  Bus,
  type CloseOptions,
  createBus,
  type DeadLetter,
  type EventContext,
  type Handler,
  type PublishOptions,
  type Subscription,
} from './bus.ts';
export { createTransport, parseBrokerUrl, registerScheme } from './config.ts';
export * from './contract.ts';
export * from './envelope.ts';
export * from './errors.ts';
export { type IdempotencyOptions, type IdempotencyStore, MemoryIdempotencyStore } from './idempotency.ts';
export { createMemoryTransport, type MemoryOptions } from './memory/transport.ts';
export type { BusOptions, SubscribeOptions } from './options.ts';
export { type BackoffOptions, backoffDelay } from './retry.ts';
export * from './transport.ts';
