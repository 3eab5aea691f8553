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
      `${scheme}:// needs the ${packageName} adapter — install ${packageName} (pnpm add ${packageName})`,
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

/** An encoded event is larger than the adapter's `maxMessageBytes`; nothing was sent. */
export class MessageTooLargeError extends OmnibusError {
  readonly bytes: number;
  readonly limit: number;
  constructor(eventType: string, bytes: number, limit: number, adapter: string) {
    super(
      'MESSAGE_TOO_LARGE',
      `${eventType} event is ${bytes} bytes encoded, over the ${adapter} limit of ${limit} bytes — nothing was sent; store large data elsewhere and publish a reference`,
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

/** `a.b[0].c` from `['a', 'b', 0, 'c']`; `(root)` for an empty path. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Replaces the password (and a lone secret user part) of a URL so it can be printed. */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(String(url));
    if (u.password) u.password = '***';
    for (const name of [...u.searchParams.keys()]) {
      if (/secret|password|token|key/i.test(name)) u.searchParams.set(name, '***');
    }
    return u.toString();
  } catch {
    // Host lists (kafka://u:p@h1,h2) are not WHATWG URLs; anything without a scheme prints as nothing.
    const text = String(url);
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return '<unparsable url>';
    return text
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*:)[^@/?#]*@/i, '$1***@')
      .replace(/([?&][^=&#]*(?:secret|password|token|key)[^=&#]*=)[^&#]*/gi, '$1***');
  }
}
