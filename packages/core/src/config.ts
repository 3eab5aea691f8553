import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AdapterNotInstalledError, ConfigError, redactUrl, UnknownSchemeError } from './errors.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { createMemoryAdmin, createMemoryTransport } from './memory/transport.ts';
import type {
  AdminFactory,
  Transport,
  TransportAdmin,
  TransportFactory,
  TransportOptions,
} from './transport.ts';

/** What an adapter package exports (its module), or what `registerScheme` may be given directly. */
export interface AdapterModule {
  createTransport: TransportFactory;
  /** Admin operations for tools and tests (optional: the conformance suite then leaves topics behind). */
  createAdmin?: AdminFactory;
  /** An idempotency store kept on this broker, shared by every instance (e.g. the Redis adapter's). */
  createIdempotencyStore?: (url: URL, text?: string, options?: TransportOptions) => Promise<IdempotencyStore>;
}

/**
 * One URL selects the adapter by its scheme. Adapter packages are loaded only when their scheme is used,
 * so the core never imports a broker client.
 */
const schemes = new Map<string, AdapterModule | string>([
  ['memory', { createTransport: createMemoryTransport, createAdmin: createMemoryAdmin }],
  ['kafka', '@omnibus/kafka'],
  ['amqp', '@omnibus/rabbitmq'],
  ['amqps', '@omnibus/rabbitmq'],
  ['redis', '@omnibus/redis'],
  ['rediss', '@omnibus/redis'],
  ['sqs', '@omnibus/sqs'],
]);

/**
 * Teach `createBus` a new scheme: give a factory, an adapter module (`{ createTransport, createAdmin }`), or
 * the name of a package whose module exports them. Third-party adapters call this once at start-up.
 */
export function registerScheme(scheme: string, adapter: TransportFactory | AdapterModule | string): void {
  schemes.set(
    scheme.replace(/:$/, ''),
    typeof adapter === 'function' ? { createTransport: adapter } : adapter,
  );
}

/**
 * Parses a broker URL. Host lists (`kafka://h1:9092,h2:9092`) are not WHATWG URLs: the result then
 * carries the first host, and adapters read the full list from the original text they also receive.
 */
export function parseBrokerUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    const hostList = /^([a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?)([^/?#,]+),[^/?#]*(.*)$/i.exec(text);
    if (hostList) {
      try {
        return new URL(`${hostList[1]}${hostList[2]}${hostList[3]}`);
      } catch {
        // not a URL even with one host: report the original below
      }
    }
    // No `cause`: Node's URL error carries the whole input, password included, as a property.
    throw new ConfigError(
      `broker URL ${redactUrl(text)} is not a URL — expected e.g. kafka://127.0.0.1:9092 or memory:// (characters such as / # ? @ % in a password must be percent-encoded)`,
    );
  }
}

/**
 * `OMNIBUS_ADAPTERS="nats=@acme/omnibus-nats,…"` maps more schemes to adapter packages without code,
 * so tools and their child processes (the conformance CLI's `--adapter`) can load third-party adapters.
 */
function adaptersFromEnvironment(): Map<string, string> {
  const mapping = new Map<string, string>();
  for (const pair of (process.env.OMNIBUS_ADAPTERS ?? '').split(',')) {
    const [scheme, packageName] = pair.split('=').map((part) => part.trim());
    if (scheme && packageName) mapping.set(scheme.replace(/:$/, ''), packageName);
  }
  return mapping;
}

async function resolveAdapter(text: string): Promise<{ url: URL; adapter: AdapterModule }> {
  const url = parseBrokerUrl(text);
  const scheme = url.protocol.replace(/:$/, '');
  const entry = schemes.get(scheme) ?? adaptersFromEnvironment().get(scheme);
  if (entry === undefined) throw new UnknownSchemeError(scheme, [...schemes.keys()]);
  return { url, adapter: typeof entry === 'string' ? await loadAdapter(scheme, entry) : entry };
}

/** Builds (does not connect) the transport a broker URL selects. `createBus` uses it; tools may too. */
export async function createTransport(text: string, options: TransportOptions = {}): Promise<Transport> {
  const { url, adapter } = await resolveAdapter(text);
  return adapter.createTransport(url, text, options);
}

/**
 * Opens the admin operations of the adapter a broker URL selects (tools and tests; services never need
 * them). Throws {@link ConfigError} when the adapter offers none.
 */
export async function createAdmin(text: string, options: TransportOptions = {}): Promise<TransportAdmin> {
  const { url, adapter } = await resolveAdapter(text);
  if (!adapter.createAdmin) {
    throw new ConfigError(`the ${url.protocol}// adapter offers no admin operations (createAdmin)`);
  }
  return adapter.createAdmin(url, text, options);
}

/**
 * Opens the shared idempotency store of the adapter a URL selects, e.g. `createIdempotencyStore('redis://…')`
 * for `idempotency: { store }` on any subscription. Throws {@link ConfigError} when the adapter has none.
 */
export async function createIdempotencyStore(
  text: string,
  options: TransportOptions = {},
): Promise<IdempotencyStore> {
  const { url, adapter } = await resolveAdapter(text);
  if (!adapter.createIdempotencyStore) {
    throw new ConfigError(`the ${url.protocol}// adapter offers no shared idempotency store`);
  }
  return adapter.createIdempotencyStore(url, text, options);
}

async function loadAdapter(scheme: string, packageName: string): Promise<AdapterModule> {
  let module: Partial<AdapterModule>;
  try {
    module = await import(packageName);
  } catch (error) {
    if (!isMissing(error, packageName)) throw error;
    // The application, not the core, depends on the adapter: resolve it from the app's directory too.
    try {
      const resolved = createRequire(join(process.cwd(), 'package.json')).resolve(packageName);
      module = await import(pathToFileURL(resolved).href);
    } catch (cause) {
      throw new AdapterNotInstalledError(scheme, packageName, { cause });
    }
  }
  if (typeof module.createTransport !== 'function') {
    throw new ConfigError(`${packageName} does not export createTransport — is it an omnibus adapter?`);
  }
  return module as AdapterModule;
}

function isMissing(error: unknown, packageName: string): boolean {
  const e = error as { code?: string; message?: string };
  return (
    (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') &&
    (e.message ?? '').includes(packageName)
  );
}
