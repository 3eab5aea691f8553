/**
 * Every error omnibus throws is an {@link OmnibusError} with a stable `code`, so callers can branch on
 * `err.code` instead of parsing messages. Messages start with `[omnibus]` and say what to do next.
 */
export class OmnibusError extends Error {
  /** Stable machine-readable code, e.g. `VALIDATION` or `UNKNOWN_SCHEME`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message.startsWith('[omnibus]') ? message : `[omnibus] ${message}`, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found while validating a payload: where (`path`) and what. */
export interface ValidationIssue {
  /** Field path from the payload root, e.g. `['items', 0, 'sku']`. Empty for the root itself. */
  path: (string | number)[];
  message: string;
}

/** A payload does not match its contract. Thrown by `publish` before anything reaches the broker. */
export class ValidationError extends OmnibusError {
  readonly eventType: string;
  readonly issues: ValidationIssue[];
  constructor(eventType: string, issues: ValidationIssue[]) {
    const list = issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
    super('VALIDATION', `invalid ${eventType} payload — ${list}`);
    this.eventType = eventType;
    this.issues = issues;
  }
}

/** Bad configuration: an unparsable URL, an unknown option, an out-of-range value. */
export class ConfigError extends OmnibusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/** The broker URL's scheme has no adapter registered. */
export class UnknownSchemeError extends OmnibusError {
  readonly scheme: string;
  constructor(scheme: string, known: string[]) {
    super(
      'UNKNOWN_SCHEME',
      `unknown broker scheme "${scheme}:" — use one of ${known.map((s) => `${s}://`).join(', ')}`,
    );
    this.scheme = scheme;
  }
}

/** The URL names an adapter whose package is not installed. */
export class AdapterNotInstalledError extends OmnibusError {
  readonly packageName: string;
  constructor(scheme: string, packageName: string, options?: { cause?: unknown }) {
    super(
      'ADAPTER_NOT_INSTALLED',
      `${scheme}:// needs the ${packageName} adapter — install ${packageName} alongside @omnibus/core`,
      options,
    );
    this.packageName = packageName;
  }
}

/** An operation on a bus or subscription that was already closed. */
export class ClosedError extends OmnibusError {
  constructor(what: string) {
    super('CLOSED', `${what} is closed — create a new one with createBus()`);
  }
}

/** An encoded event is larger than the adapter's `maxMessageBytes`, or the broker refused its size; it was not stored. */
export class MessageTooLargeError extends OmnibusError {
  readonly bytes: number;
  readonly limit: number;
  constructor(eventType: string, bytes: number, limit: number, adapter: string) {
    super(
      'MESSAGE_TOO_LARGE',
      `${eventType} event is ${bytes} bytes encoded, over the ${adapter} limit of ${limit} bytes — it was not stored; keep large data elsewhere and publish a reference`,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** Two versions of a contract cannot read each other's data. */
export class IncompatibleSchemaError extends OmnibusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INCOMPATIBLE_SCHEMA', message, options);
  }
}

/** Bytes received from the broker are not a readable event (consumers dead-letter these). */
export class DecodeError extends OmnibusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DECODE', message, options);
  }
}

/** The broker could not be reached or refused the operation. Adapters throw this. */
export class BrokerError extends OmnibusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BROKER', message, options);
  }
}

/**
 * Something a subscription met in the background, reported to `onError` (and the logger) rather than thrown:
 * `IDEMPOTENCY_STORE` (the store failed; the event waits and is tried again), `LEASE_LOST` (a delivery's
 * lease ran out; it is handed back), `CLOSE_TIMEOUT` (close stopped waiting; the events go back to the
 * broker), `DEAD_LETTER_KEPT` (a dead letter's own handler kept failing; it stays on its queue).
 */
export class SubscriptionError extends OmnibusError {
  constructor(
    code: 'IDEMPOTENCY_STORE' | 'LEASE_LOST' | 'CLOSE_TIMEOUT' | 'DEAD_LETTER_KEPT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/**
 * `close({ timeoutMs })` stopped waiting before the broker confirmed this publish: it may or may not have
 * been stored. Publish it again if it matters (idempotent consumers absorb a duplicate).
 */
export class UnconfirmedPublishError extends OmnibusError {
  constructor(waitedMs: number) {
    super(
      'PUBLISH_UNCONFIRMED',
      `close() stopped waiting after ${waitedMs} ms before the broker confirmed this event — it may or may not have been stored; publish it again if it matters`,
    );
  }
}

/** More publishes await the broker's confirmation than `maxPendingPublishes`, with `onPublishBackpressure: 'reject'`. */
export class PublishBackpressureError extends OmnibusError {
  constructor(maxPending: number) {
    super(
      'PUBLISH_BACKPRESSURE',
      `${maxPending} publishes already await the broker's confirmation (maxPendingPublishes) — slow down, await publishes, or let publish wait (onPublishBackpressure: 'wait')`,
    );
  }
}

/** Some events of a `publishBatch` were not stored; `failures` says which and why, the rest were. */
export class PublishBatchError extends OmnibusError {
  /** Ids of the events the broker stored. */
  readonly published: string[];
  readonly failures: { index: number; id: string; error: Error }[];
  constructor(published: string[], failures: { index: number; id: string; error: Error }[]) {
    const first = failures[0];
    super(
      'PUBLISH_BATCH',
      `${failures.length} of ${published.length + failures.length} events were not published (first: #${first?.index}: ${first?.error.message}) — publish them again; the others were stored`,
      { cause: first?.error },
    );
    this.published = published;
    this.failures = failures;
  }
}

/** `a.b[0].c` from `['a', 'b', 0, 'c']`; `(root)` for an empty path. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/**
 * A URL fit to print: the password (and secret-looking query parameters) replaced by `***`. Works on what
 * users actually type, not only valid URLs: an unencoded `/`, `#`, `?` or `@` in the password, a bad `%`
 * escape, a one-slash `kafka:/…`, host lists — anything before the last `@` is credentials, so it never
 * prints except the user name.
 */
export function redactUrl(url: string | URL): string {
  const text = String(url);
  try {
    const u = new URL(text);
    if (u.host) {
      if (u.password) u.password = '***';
      for (const name of [...u.searchParams.keys()]) {
        if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
      }
      return u.toString();
    }
  } catch {
    // not a WHATWG URL: redacted as text below
  }
  const parts = /^([a-z][a-z0-9+.-]*:\/*)(.*)$/is.exec(text);
  if (!parts) return '<unparsable url>';
  const [, prefix, rest] = parts as unknown as [string, string, string];
  const at = rest.lastIndexOf('@');
  const userinfo = at < 0 ? '' : rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const user = colon < 0 ? '' : userinfo.slice(0, colon);
  const shown = at < 0 ? '' : `${/^[\w.~-]*$/.test(user) && colon >= 0 ? `${user}:` : ''}***@`;
  const tail = (at < 0 ? rest : rest.slice(at + 1)).replace(
    /([?&][^=&#]*(?:secret|password|token|key)[^=&#]*=)[^&#]*/gi,
    '$1***',
  );
  return `${prefix}${shown}${tail}`;
}

const SECRET_PARAM = /secret|password|token|key/i;
