import { BrokerError, ConfigError } from '@omnibus/core';
import { describeHosts, type RedisOptions } from './options.ts';

/** Short adapter name used in errors and reports. */
export const REDIS = 'redis';

const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|EPIPE/;
const TLS = /SSL|TLS|certificate|EPROTO|self.signed|altnames|handshake/i;

/**
 * A publish was refused because the partition stream already holds `maxLen` entries and some group has not
 * acknowledged the oldest of them: trimming would lose events that group still needs. Nothing was stored.
 */
export class RedisStreamFullError extends BrokerError {
  readonly stream: string;
  readonly length: number;
  readonly maxLen: number;
  /** A group holding the oldest unacknowledged entry. */
  readonly group: string;
  constructor(topic: string, stream: string, length: number, maxLen: number, group: string) {
    super(
      `[omnibus] [redis] not published to ${topic}: partition stream ${stream} holds ${length} entries (maxLen ${maxLen}) and group "${group}" has not acknowledged the oldest of them — trimming would lose them; publish again once the group catches up, add consumers to it, or raise maxLen`,
    );
    this.stream = stream;
    this.length = length;
    this.maxLen = maxLen;
    this.group = group;
  }
}

/**
 * Wraps an ioredis error in a {@link BrokerError} that names the server and the cause in words an operator
 * acts on. The cause attached is a copy holding only name, code and a scrubbed message: ioredis attaches
 * the failed command with its arguments (`HELLO 3 AUTH user password`) to its errors.
 */
export function toBrokerError(error: unknown, action: string, options: RedisOptions): BrokerError {
  if (error instanceof BrokerError || error instanceof ConfigError) return error as BrokerError;
  const hosts = describeHosts(options);
  const chain = causes(error);
  const text = scrub(
    chain.map((e) => `${e.message} ${(e as { code?: string }).code ?? ''}`).join(' | '),
    options,
  );
  const root = scrub(chain.at(-1)?.message ?? String(error), options);
  const cause = sanitized(chain[0] ?? error, options);
  const user = options.username ?? 'default';
  if (/WRONGPASS|invalid username-password|invalid password/i.test(text)) {
    return new BrokerError(
      `[omnibus] [redis] ${hosts} refused the login of user "${user}": wrong password or unknown user (WRONGPASS) — check the user and password in the URL`,
      { cause },
    );
  }
  if (/NOAUTH|Authentication required/i.test(text)) {
    return new BrokerError(
      `[omnibus] [redis] ${hosts} requires a password and none was given (NOAUTH) — put it in the URL: redis://:password@host:6379`,
      { cause },
    );
  }
  if (/NOPERM/.test(text)) {
    return new BrokerError(
      `[omnibus] [redis] user "${user}" may not run a command the adapter needs on ${hosts} (NOPERM; ${action}) — grant it the stream, string, sorted-set, hash, set and scripting commands on the prefix's keys (${root})`,
      { cause },
    );
  }
  if (TLS.test(text) && !UNREACHABLE.test(text)) {
    return new BrokerError(
      `[omnibus] [redis] TLS with ${hosts} failed (${root}) — check that the server speaks TLS (rediss://) or plain TCP (redis://), and the CA and host name`,
      { cause },
    );
  }
  const code = UNREACHABLE.exec(text)?.[0];
  if (options.tls && (code === 'ETIMEDOUT' || code === 'ECONNRESET' || /Connection is closed/.test(text))) {
    // A TLS client on a plain-text port sees its handshake go unanswered or cut off, not a refusal.
    return new BrokerError(
      `[omnibus] [redis] no TLS handshake with ${hosts} (${code ?? 'connection closed'}) — does the server speak TLS on this port? rediss:// needs a TLS port, a plain one needs redis:// (${action}: ${root})`,
      { cause },
    );
  }
  if (
    code ||
    /Connection is closed|connect timed out|Reached the max retries|All connections failed|Failed to refresh slots/i.test(
      text,
    )
  ) {
    return new BrokerError(
      `[omnibus] [redis] cannot reach ${hosts}${code ? ` (${code})` : ''} — is Redis running and reachable from here? (${action}: ${root})`,
      { cause },
    );
  }
  if (/CROSSSLOT|MOVED|CLUSTERDOWN|cluster support disabled/i.test(text)) {
    return new BrokerError(
      `[omnibus] [redis] ${action} failed on ${hosts}: ${root} — is this a Redis Cluster? use ?cluster=true for a cluster and leave it out for a standalone Redis`,
      { cause },
    );
  }
  return new BrokerError(`[omnibus] [redis] ${action} failed on ${hosts}: ${root}`, { cause });
}

function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 8 && !chain.includes(current)) {
    chain.push(current);
    // ioredis: ClusterAllFailedError.lastNodeError; Node: AggregateError.errors.
    const e = current as { lastNodeError?: unknown; errors?: unknown[] };
    current = e.lastNodeError ?? e.errors?.[0] ?? current.cause;
  }
  return chain;
}

function scrub(text: string, options: RedisOptions): string {
  let out = text;
  for (const secret of [options.password, options.password && encodeURIComponent(options.password)]) {
    if (secret) out = out.split(secret).join('***');
  }
  return out;
}

/** A plain Error with the original's name, code and scrubbed message: no command arguments, no stack of secrets. */
function sanitized(error: unknown, options: RedisOptions): Error {
  const original = error as { name?: string; code?: string; message?: string };
  const copy = new Error(scrub(original?.message ?? String(error), options));
  copy.name = original?.name ?? 'Error';
  if (original?.code) Object.assign(copy, { code: original.code });
  return copy;
}
