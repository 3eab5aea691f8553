import { BrokerError, type Logger, silentLogger } from '@omnibus/core';
import type { Cluster, RedisOptions as IoRedisOptions, Redis } from 'ioredis';
import { toBrokerError } from './errors.ts';
import { describeHosts, type RedisOptions } from './options.ts';
import { SCRIPTS, type ScriptName } from './scripts.ts';

/** A standalone connection or a Redis Cluster client: the adapter uses only what both offer. */
export type RedisClient = Redis | Cluster;
export type Arg = string | number | Buffer;

/**
 * Calls one of the adapter's Lua scripts (EVALSHA, EVAL after a script-cache loss). `buffers` keeps bulk
 * replies as Buffers; `failOnClose` fails the call when the connection drops before its reply ({@link send})
 * instead of waiting for ioredis to resend it after reconnecting.
 */
export function runScript<T>(
  client: RedisClient,
  name: ScriptName,
  keys: string[],
  args: Arg[],
  { buffers = false, failOnClose = false }: { buffers?: boolean; failOnClose?: boolean } = {},
): Promise<T> {
  const method = (client as unknown as Record<string, (...a: Arg[]) => Promise<T>>)[
    buffers ? `${name}Buffer` : name
  ]!;
  const call = () => method.call(client, ...keys, ...args);
  return failOnClose ? send(client, call) : call();
}

/** Rejecters of the commands awaiting a reply, per standalone client (see {@link send}). */
const awaiting = new WeakMap<RedisClient, Set<(error: Error) => void>>();

/**
 * Sends a command and settles with its reply, or fails as soon as the connection closes before the reply
 * came. By default ioredis resends such a command after reconnecting, which suits writes that may safely
 * run twice (acks, lease renewals, publishes: at-least-once). A read must not: if the first XREADGROUP ran
 * and its reply was lost, the resent one returns the entries after it, and the first batch would sit in
 * this consumer's pending list. So reads fail instead, and the reader takes the partition's pending entries
 * back in ID order before reading on — whatever the first and the resent read took.
 */
export function send<T>(client: RedisClient, command: () => Promise<T>): Promise<T> {
  const pending = awaiting.get(client);
  if (!pending) return command();
  return new Promise<T>((resolve, reject) => {
    const fail = (error: Error) => {
      pending.delete(fail);
      reject(error);
    };
    pending.add(fail);
    command().then(
      (value) => {
        pending.delete(fail);
        resolve(value);
      },
      (error: unknown) => fail(error as Error),
    );
  });
}

function hostAndPort(host: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (v6) return { host: v6[1]!, port: Number(v6[2] ?? 6379) };
  const [name = '127.0.0.1', port = '6379'] = host.split(':');
  return { host: name, port: Number(port) };
}

/** Reconnect after 100, 200, 400 … ms, at most 2 s apart: a restarted Redis is found again quickly. */
const retryStrategy = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2_000);

/**
 * Opens a client (ioredis is loaded here, lazily: the core never imports it). Auto-pipelining groups the
 * commands issued in one tick into one write. Commands in flight when a connection drops fail at once
 * ({@link send}). ioredis's `error` events never reach the console: a lost connection (warn), each failed
 * attempt (debug) and the recovery (info) go to `logger`, without credentials.
 */
export async function openClient(
  options: RedisOptions,
  purpose: string,
  logger: Logger = silentLogger,
  extra: Partial<IoRedisOptions> = {},
): Promise<RedisClient> {
  const { Redis, Cluster } = await import('ioredis');
  const tls = options.tls === true ? {} : options.tls || undefined;
  const common = {
    username: options.username,
    password: options.password,
    tls,
    connectTimeout: options.connectTimeoutMs,
    connectionName: `omnibus:${purpose}`,
    maxRetriesPerRequest: 20,
    ...extra,
  } satisfies IoRedisOptions;
  const client: RedisClient = options.cluster
    ? new Cluster(options.hosts.map(hostAndPort), {
        lazyConnect: true,
        enableAutoPipelining: extra.enableAutoPipelining ?? true,
        scripts: SCRIPTS,
        clusterRetryStrategy: retryStrategy,
        redisOptions: common,
      })
    : new Redis({
        ...hostAndPort(options.hosts[0]!),
        db: options.db,
        lazyConnect: true,
        enableAutoPipelining: true,
        scripts: SCRIPTS,
        retryStrategy,
        ...common,
      });
  let lastError: Error | undefined;
  const connecting = (error: Error) => {
    lastError = error;
  };
  client.on('error', connecting);
  try {
    await client.connect();
    await assertVersion(client);
  } catch (error) {
    client.disconnect();
    throw toBrokerError(lastError ?? error, `connecting (${purpose})`, options);
  } finally {
    client.off('error', connecting);
  }
  watch(client, options, purpose, logger);
  if (!options.cluster) {
    // Cluster nodes do not reconnect by themselves: ioredis fails their commands when they close.
    const pending = new Set<(error: Error) => void>();
    awaiting.set(client, pending);
    client.on('close', () => {
      const lost = new Error('Connection is closed (the reply of a command sent before was lost)');
      for (const fail of [...pending]) fail(lost);
    });
  }
  return client;
}

/** Connection events to the logger, with the server and a scrubbed reason: never the password. */
function watch(client: RedisClient, options: RedisOptions, purpose: string, logger: Logger): void {
  const fields = { adapter: 'redis', broker: describeHosts(options), connection: purpose };
  const reason = (error: unknown) => toBrokerError(error, purpose, options).message;
  let lost = false;
  let lastError: unknown;
  client.on('error', (error: Error) => {
    lastError = error;
    logger.debug(
      { ...fields, reason: reason(error) },
      `[omnibus] [redis] connection attempt failed (${fields.broker})`,
    );
  });
  client.on('node error', (error: Error) => {
    logger.debug(
      { ...fields, reason: reason(error) },
      `[omnibus] [redis] a cluster node failed (${fields.broker})`,
    );
  });
  client.on('reconnecting', () => {
    if (lost || client.status === 'end') return;
    lost = true;
    const cause = lastError ? { reason: reason(lastError) } : {};
    logger.warn(
      { ...fields, ...cause },
      `[omnibus] [redis] connection lost — reconnecting (${fields.broker})`,
    );
  });
  client.on('ready', () => {
    if (!lost) return;
    lost = false;
    lastError = undefined;
    logger.info(fields, `[omnibus] [redis] reconnected (${fields.broker})`);
  });
}

/** Redis 6.2 brought what the adapter needs (exclusive XPENDING ranges, XAUTOCLAIM-era PEL handling). */
async function assertVersion(client: RedisClient): Promise<void> {
  const info = String(
    await (client as Redis).info('server').catch((error: Error) => {
      // Managed services may forbid INFO: then trust the server and let a missing command say so later.
      if (/NOPERM|unknown command/i.test(error.message)) return '';
      throw error;
    }),
  );
  const version = /redis_version:(\d+)\.(\d+)/.exec(info);
  if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
    throw new BrokerError(
      `[omnibus] [redis] the server runs Redis ${version[1]}.${version[2]}; the adapter needs Redis 6.2 or newer (Streams consumer-group commands)`,
    );
  }
}

/** Closes a client: QUIT when it is connected (pending replies arrive first), else drop the socket. */
export async function closeClient(client: RedisClient | undefined): Promise<void> {
  if (!client) return;
  if (client.status === 'ready') {
    await Promise.race([client.quit().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2_000))]);
  }
  client.disconnect();
}

/** Creates a consumer group on a stream unless it exists (XGROUP CREATE … MKSTREAM; BUSYGROUP is fine). */
export async function createGroup(
  client: RedisClient,
  options: RedisOptions,
  stream: string,
  group: string,
): Promise<void> {
  try {
    await client.xgroup('CREATE', stream, group, options.fromBeginning ? '0' : '$', 'MKSTREAM');
  } catch (error) {
    if (!/BUSYGROUP/.test((error as Error).message)) {
      throw toBrokerError(error, `creating group ${group} on ${stream}`, options);
    }
  }
}
