import { z } from 'zod';
import { ConfigError, formatPath } from './errors.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { isLogger, type Logger } from './logger.ts';
import type { Middleware } from './middleware.ts';
import type { Transport } from './transport.ts';

const isStore = (v: unknown): v is IdempotencyStore =>
  typeof v === 'object' &&
  v !== null &&
  ['claim', 'complete', 'release'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function');

const isMiddleware = (v: unknown): v is Middleware =>
  typeof v === 'object' &&
  v !== null &&
  ['publish', 'handle'].every((m) => {
    const hook = (v as Record<string, unknown>)[m];
    return hook === undefined || typeof hook === 'function';
  });

const backoffSchema = z
  .object({
    initialDelayMs: z.number().int().nonnegative().optional(),
    multiplier: z.number().min(1).optional(),
    maxDelayMs: z.number().int().nonnegative().optional(),
    jitter: z.number().min(0).max(1).optional(),
  })
  .strict();

/** Options of `bus.subscribe`. Validated at run time; errors name the bad field. */
export const subscribeOptionsSchema = z
  .object({
    group: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-"'),
    concurrency: z.number().int().positive().optional(),
    prefetch: z.number().int().positive().optional(),
    maxAttempts: z.number().int().positive().optional(),
    backoff: backoffSchema.optional(),
    deadLetterTopic: z.string().min(1).optional(),
    idempotency: z
      .object({
        store: z.union([
          z.literal('memory'),
          z.custom<IdempotencyStore>(isStore, 'an IdempotencyStore or "memory"'),
        ]),
        leaseMs: z.number().int().positive().optional(),
        ttlMs: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** How a subscription consumes. */
export interface SubscribeOptions {
  /** Consumer group: instances with one group share the work; every group gets every event. */
  group: string;
  /** Handlers running at once (events of one key always run one at a time, in order). @default 8 */
  concurrency?: number;
  /** Events held from the broker at once (running + waiting for their key). @default max(16, 4 × concurrency) */
  prefetch?: number;
  /** Attempts before an event is dead-lettered (1 = no retry). @default 5 */
  maxAttempts?: number;
  /** Delay between attempts. @default { initialDelayMs: 200, multiplier: 2, maxDelayMs: 30000, jitter: 0.2 } */
  backoff?: z.infer<typeof backoffSchema>;
  /** Where exhausted and undecodable events go. @default `<topic>.dlq` */
  deadLetterTopic?: string;
  /** Run the handler once per event id. @default off */
  idempotency?: { store: 'memory' | IdempotencyStore; leaseMs?: number; ttlMs?: number };
}

const busOptionsSchema = z
  .object({
    url: z.string().optional(),
    transport: z
      .custom<Transport>(
        (v) => typeof v === 'object' && v !== null && typeof (v as Transport).publish === 'function',
      )
      .optional(),
    source: z.string().min(1).optional(),
    embedWriterSchema: z.boolean().optional(),
    onError: z.custom<(error: Error) => void>((v) => typeof v === 'function').optional(),
    logger: z.custom<Logger>(isLogger, 'an object with debug, info, warn and error methods').optional(),
    maxPendingPublishes: z.number().int().positive().optional(),
    onPublishBackpressure: z.enum(['wait', 'reject']).optional(),
    middleware: z
      .array(z.custom<Middleware>(isMiddleware, 'an object with optional publish and handle functions'))
      .optional(),
  })
  .strict();

/** Options of `createBus`. */
export interface BusOptions {
  /**
   * Broker URL; the scheme picks the adapter. Without it (and without `transport`), `BROKER_URL` is used;
   * with neither, `createBus` throws a {@link ConfigError} — it never falls back to `memory://` silently.
   * @default process.env.BROKER_URL
   */
  url?: string;
  /** A ready transport instead of a URL (custom adapters, tests). */
  transport?: Transport;
  /** CloudEvents `source` of published events. @default `urn:omnibus:<hostname>` */
  source?: string;
  /**
   * Send the writer schema with each event so consumers on older contract versions can still resolve it.
   * Turn off to save bytes once every consumer knows every version it will read. @default true
   */
  embedWriterSchema?: boolean;
  /**
   * Called for errors no caller awaits (a consumer connection lost, a failed ack).
   * @default logs them at `error` level to `logger`
   */
  onError?: (error: Error) => void;
  /**
   * Receives the logs of omnibus and of the broker driver (pino-compatible: a pino logger, `console`, …).
   * @default silentLogger — omnibus writes nothing to stdout or stderr by itself
   */
  logger?: Logger;
  /**
   * Most publishes that may await the broker's confirmation at once. Past it, `publish` waits for room
   * (or rejects, see `onPublishBackpressure`), so a producer that outruns the broker holds bounded memory.
   * @default 10000
   */
  maxPendingPublishes?: number;
  /** What `publish` does when `maxPendingPublishes` are pending: wait for room, or throw `PublishBackpressureError`. @default 'wait' */
  onPublishBackpressure?: 'wait' | 'reject';
  /**
   * Runs around every publish and every handler run (tracing, metrics, tenancy headers), first one
   * outermost; more can be added with `bus.use`. See {@link Middleware}.
   * @default none — without middleware publishes and handler runs take no extra step
   */
  middleware?: Middleware[];
}

export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues
    .map((i) => `${formatPath(i.path as (string | number)[])}: ${i.message}`)
    .join('; ');
  throw new ConfigError(`${where} options are invalid — ${problems}`);
}

/**
 * The broker URL `createBus` opens: `url`, else `BROKER_URL`. Neither (and no `transport`) is a
 * {@link ConfigError}: an in-process broker is opted into with `memory://`, never a silent fallback.
 */
export function brokerUrlOf(options: BusOptions): string | undefined {
  const url = options.url || process.env.BROKER_URL || undefined;
  if (url === undefined && !options.transport) {
    throw new ConfigError(
      'no broker URL — pass one to createBus (e.g. kafka://host:9092, or memory:// for an in-process broker) or set BROKER_URL',
    );
  }
  return url;
}

export const parseBusOptions = (value: unknown): BusOptions =>
  parseOptions(busOptionsSchema, value, 'createBus');
export const parseSubscribeOptions = (value: unknown): SubscribeOptions =>
  parseOptions(subscribeOptionsSchema, value, 'subscribe') as SubscribeOptions;
