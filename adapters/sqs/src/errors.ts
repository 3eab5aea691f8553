import { BrokerError, ConfigError, OmnibusError } from '@omnibus/core';
import type { SqsOptions } from './options.ts';

/** Short adapter name used in errors and reports. */
export const SQS = 'sqs';

const UNREACHABLE =
  /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|EPIPE|socket hang up/;

/** Where the adapter talks to, fit to print. */
export function describeEndpoint(options: SqsOptions): string {
  return options.endpoint ?? `AWS SQS (${options.region ?? 'the SDK default region'})`;
}

/** A queue the adapter needs is gone (deleted while in use, or never provisioned for a publish). */
export class QueueMissingError extends BrokerError {
  readonly queue: string;
  constructor(queue: string, action: string) {
    super(
      `[omnibus] [sqs] queue ${queue} does not exist (${action}) — it was deleted while in use; provision the topic again (bus.provision) or subscribe, which creates it`,
    );
    this.queue = queue;
  }
}

/**
 * Wraps an AWS SDK error in a {@link BrokerError} that says what is wrong in words an operator acts on.
 * The cause attached is a copy holding only name, code and message: SDK errors carry the request and
 * response metadata, which no log needs.
 */
export function toBrokerError(error: unknown, action: string, options: SqsOptions): OmnibusError {
  if (error instanceof OmnibusError) return error;
  const chain = causes(error);
  const names = chain.map((e) => `${e.name} ${(e as { code?: string }).code ?? ''} ${e.message}`).join(' | ');
  const root = scrub(chain[0]?.message ?? String(error), options);
  const where = describeEndpoint(options);
  const cause = sanitized(chain[0] ?? error, options);
  if (/CredentialsProviderError|Could not load credentials/i.test(names)) {
    return new ConfigError(
      `[omnibus] [sqs] no AWS credentials found for ${where} (${action}) — set them for the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, an instance or task role) or in the URL as sqs://KEY_ID:SECRET@host`,
      { cause },
    );
  }
  if (
    /InvalidClientTokenId|UnrecognizedClient|SignatureDoesNotMatch|InvalidSecurity|ExpiredToken|IncompleteSignature/i.test(
      names,
    )
  ) {
    return new BrokerError(
      `[omnibus] [sqs] ${where} refused the credentials (${action}: ${root}) — check the access key id and secret (or the role) and the region`,
      { cause },
    );
  }
  if (/AccessDenied|not authorized/i.test(names)) {
    return new BrokerError(
      `[omnibus] [sqs] the credentials may not do what the adapter needs on ${where} (${action}: ${root}) — grant the IAM actions listed in the @omnibus/sqs README`,
      { cause },
    );
  }
  if (/Region is missing|region/i.test(names) && /missing|invalid/i.test(names)) {
    return new ConfigError(
      `[omnibus] [sqs] no AWS region (${action}) — add ?region=… to the URL or set AWS_REGION`,
      { cause },
    );
  }
  const code = UNREACHABLE.exec(names)?.[0];
  if (code) {
    return new BrokerError(
      `[omnibus] [sqs] cannot reach ${where} (${code}; ${action}) — is the endpoint running and the host and port right?`,
      { cause },
    );
  }
  return new BrokerError(`[omnibus] [sqs] ${action} failed on ${where}: ${root}`, { cause });
}

/** Whether an SDK error says the queue does not exist. */
export function isQueueMissing(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; message?: string } | undefined;
  return /QueueDoesNotExist|NonExistentQueue/.test(`${e?.name ?? ''} ${e?.Code ?? ''} ${e?.message ?? ''}`);
}

function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 8) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  if (chain.length === 0) chain.push(new Error(String(error)));
  return chain;
}

function scrub(text: string, options: SqsOptions): string {
  const secret = options.credentials?.secretAccessKey;
  let out = text;
  if (secret) out = out.replaceAll(secret, '***').replaceAll(encodeURIComponent(secret), '***');
  return out;
}

function sanitized(error: unknown, options: SqsOptions): Error {
  const e = error as { name?: string; code?: string; message?: string };
  const copy = new Error(scrub(String(e?.message ?? error), options));
  copy.name = e?.name ?? 'Error';
  if (typeof e?.code === 'string') Object.assign(copy, { code: e.code });
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}
