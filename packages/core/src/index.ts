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
export {
  type AdapterModule,
  createAdmin,
  createIdempotencyStore,
  createTransport,
  parseBrokerUrl,
  registerScheme,
} from './config.ts';
export * from './contract.ts';
export * from './envelope.ts';
export * from './errors.ts';
export type { BusHealth, ConnectionState, SubscriptionHealth } from './health.ts';
export { type IdempotencyOptions, type IdempotencyStore, MemoryIdempotencyStore } from './idempotency.ts';
export * from './kit/index.ts';
export type { SubscriptionLag } from './lag.ts';
export { isLogger, type Logger, silentLogger } from './logger.ts';
export { createMemoryAdmin, createMemoryTransport, type MemoryOptions } from './memory/transport.ts';
export type {
  HandleContext,
  HandleOutcome,
  Middleware,
  MiddlewareBus,
  PublishContext,
} from './middleware.ts';
export type { BusOptions, SubscribeOptions } from './options.ts';
export { type BackoffOptions, backoffDelay } from './retry.ts';
export type { SignalOptions } from './signals.ts';
export * from './transport.ts';
