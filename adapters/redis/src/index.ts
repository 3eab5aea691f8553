export { createRedisTransport, createTransport, RedisTransport, redisCapabilities } from './adapter.ts';
export { createAdmin } from './admin.ts';
export { REDIS, RedisStreamFullError } from './errors.ts';
export { createIdempotencyStore, RedisIdempotencyStore, redisIdempotencyStore } from './idempotency.ts';
export type { HeaderLayout } from './keys.ts';
export { DEFAULT_OPTIONS, parseRedisUrl, type RedisOptions, redactRedisUrl } from './options.ts';
