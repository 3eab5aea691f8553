/**
 * Where omnibus and the broker drivers under it (kafkajs, the RabbitMQ connection) send their logs.
 * pino-compatible: pass a pino logger, `console`, or anything with these four methods. Each call gets a
 * fields object first (an error is under `err`, as pino's serializers expect), then the message.
 * Nothing in the fields or the message carries a credential.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Drops every line: the default, because a library writes nothing to stdout or stderr by itself. */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** True for a value with the four methods of {@link Logger} (used to validate the `logger` option). */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['debug', 'info', 'warn', 'error'].every((level) => typeof candidate[level] === 'function');
}
