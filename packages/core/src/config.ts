import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AdapterNotInstalledError, ConfigError, redactUrl, UnknownSchemeError } from './errors.ts';
import { createMemoryTransport } from './memory/transport.ts';
import type { Transport, TransportFactory } from './transport.ts';

/**
 * One URL selects the adapter by its scheme. Adapter packages are loaded only when their scheme is used,
 * so the core never imports a broker client.
 */
const schemes = new Map<string, TransportFactory | string>([
  ['memory', createMemoryTransport],
  ['kafka', '@omnibus/kafka'],
  ['amqp', '@omnibus/rabbitmq'],
  ['amqps', '@omnibus/rabbitmq'],
  ['redis', '@omnibus/redis'],
  ['rediss', '@omnibus/redis'],
  ['sqs', '@omnibus/sqs'],
]);

/**
 * Teach `createBus` a new scheme: give a factory, or the name of a package whose module exports
 * `createTransport`. Third-party adapters call this once at start-up.
 */
export function registerScheme(scheme: string, factory: TransportFactory | string): void {
  schemes.set(scheme.replace(/:$/, ''), factory);
}

/**
 * Parses a broker URL. Host lists (`kafka://h1:9092,h2:9092`) are not WHATWG URLs: the result then
 * carries the first host, and adapters read the full list from the original text they also receive.
 */
export function parseBrokerUrl(text: string): URL {
  try {
    return new URL(text);
  } catch (cause) {
    const hostList = /^([a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?)([^/?#,]+),[^/?#]*(.*)$/i.exec(text);
    if (hostList) {
      try {
        return new URL(`${hostList[1]}${hostList[2]}${hostList[3]}`);
      } catch {
        // not a URL even with one host: report the original below
      }
    }
    throw new ConfigError(
      `broker URL ${redactUrl(text)} is not a URL — expected e.g. kafka://127.0.0.1:9092 or memory://`,
      {
        cause,
      },
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

/** Builds (does not connect) the transport a broker URL selects. `createBus` uses it; tools may too. */
export async function createTransport(text: string): Promise<Transport> {
  const url = parseBrokerUrl(text);
  const scheme = url.protocol.replace(/:$/, '');
  const entry = schemes.get(scheme) ?? adaptersFromEnvironment().get(scheme);
  if (entry === undefined) throw new UnknownSchemeError(scheme, [...schemes.keys()]);
  const factory = typeof entry === 'string' ? await loadAdapter(scheme, entry) : entry;
  return factory(url, text);
}

async function loadAdapter(scheme: string, packageName: string): Promise<TransportFactory> {
  let module: { createTransport?: TransportFactory };
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
  return module.createTransport;
}

function isMissing(error: unknown, packageName: string): boolean {
  const e = error as { code?: string; message?: string };
  return (
    (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') &&
    (e.message ?? '').includes(packageName)
  );
}
