// A minimal RESP2 client for the readiness probes: send a few commands on one connection, read one
// reply per command. Enough for PING / INFO / CLUSTER INFO without loading a Redis client library.
import net from 'node:net';
import type { RedisNode } from './urls.ts';

export type Reply = string | number | null;

export interface RedisAuth {
  username?: string;
  password?: string;
}

/** An error reply (`-ERR …`, `-LOADING …`); the text is Redis's own and never holds the password. */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

function encode(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** One reply starting at `offset`, or undefined while the buffer does not hold all of it yet. */
function parseReply(
  buf: Buffer,
  offset: number,
): { value: Reply | RedisReplyError; next: number } | undefined {
  const eol = buf.indexOf('\r\n', offset);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', offset + 1, eol);
  switch (String.fromCharCode(buf[offset] ?? 0)) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: new RedisReplyError(line), next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: eol + 2 };
      const end = eol + 2 + length;
      if (buf.length < end + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, end), next: end + 2 };
    }
    default:
      throw new Error(`unexpected RESP reply type at byte ${offset} (arrays are not needed by the probes)`);
  }
}

/**
 * Send `commands` (after AUTH when a password is given) and resolve with their replies in order.
 * Rejects on the first error reply, a timeout or a connection error.
 */
export function redisCommands(
  node: RedisNode,
  commands: readonly (readonly string[])[],
  auth: RedisAuth = {},
  timeoutMs = 3_000,
): Promise<Reply[]> {
  const all = auth.password
    ? [['AUTH', ...(auth.username ? [auth.username] : []), auth.password], ...commands]
    : [...commands];
  const skip = all.length - commands.length;
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: node.host, port: node.port });
    let buf = Buffer.alloc(0);
    let offset = 0;
    const replies: Reply[] = [];
    const fail = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    sock.setTimeout(timeoutMs, () =>
      fail(new Error(`${node.host}:${node.port}: no reply within ${timeoutMs} ms`)),
    );
    sock.on('connect', () => sock.write(all.map(encode).join('')));
    sock.on('error', (err: Error & { code?: string }) =>
      fail(new Error(`${node.host}:${node.port}: ${err.code ?? err.message}`)),
    );
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const parsed = parseReply(buf, offset);
        if (!parsed) return;
        offset = parsed.next;
        if (parsed.value instanceof RedisReplyError) {
          fail(new RedisReplyError(`${node.host}:${node.port} answered: ${parsed.value.message}`));
          return;
        }
        replies.push(parsed.value);
        if (replies.length === all.length) {
          sock.end();
          resolve(replies.slice(skip));
          return;
        }
      }
    });
  });
}

/** `field:value` lines of an INFO / CLUSTER INFO reply. */
export function infoFields(reply: Reply): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of String(reply ?? '').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}
