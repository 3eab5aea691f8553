import type { SQSClient } from '@aws-sdk/client-sqs';
import type { TransportHealth } from '@omnibus/core';

const UNREACHABLE =
  /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|EPIPE|socket hang up|TimeoutError|RequestTimeout/;
const CREDENTIALS_MISSING = /CredentialsProviderError|Could not load credentials/i;
const CREDENTIALS_REFUSED =
  /InvalidClientTokenId|UnrecognizedClient|SignatureDoesNotMatch|InvalidSecurity|ExpiredToken|IncompleteSignature/i;
const ACCESS_DENIED = /AccessDenied|not authorized/i;
const QUEUE_MISSING = /QueueDoesNotExist|NonExistentQueue/;
const THROTTLED = /Throttl|RequestThrottled|TooManyRequests|ServiceUnavailable|InternalError|InternalFailure/;

/** How a failed request bears on the connection; `answered`: the endpoint answered, the connection is fine. */
export type FailureKind =
  | 'unreachable'
  | 'credentials missing'
  | 'credentials refused'
  | 'access denied'
  | 'queue missing'
  | 'unavailable'
  | 'answered';

/**
 * Sorts a failed SDK request. Only names and codes are read, never the message text an endpoint sent back
 * (a signature error's may quote the request). `endpoint` and `operation` come from the adapter's options
 * and the command's name, which hold no credentials.
 */
export function classify(
  error: unknown,
  endpoint: string,
  operation: string,
  queue?: string,
): { kind: FailureKind; reason: string } {
  const names: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    const e = current as Error & { code?: unknown; Code?: unknown; errno?: unknown };
    names.push(e.name, ...[e.code, e.Code].filter((c): c is string => typeof c === 'string'));
    // Node's network errors name their code in the message only ("connect ECONNREFUSED 127.0.0.1:1").
    const code = UNREACHABLE.exec(e.message)?.[0];
    if (code) names.push(code);
    current = e.cause;
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const text = names.join(' ');
  const code = (pattern: RegExp) => pattern.exec(text)?.[0] ?? names[0] ?? 'Error';
  if (CREDENTIALS_MISSING.test(text))
    return {
      kind: 'credentials missing',
      reason: `credentials missing: no AWS credentials found (${operation})`,
    };
  if (CREDENTIALS_REFUSED.test(text))
    return {
      kind: 'credentials refused',
      reason: `credentials refused: ${endpoint} answered ${code(CREDENTIALS_REFUSED)} (${operation})`,
    };
  if (ACCESS_DENIED.test(text))
    return {
      kind: 'access denied',
      reason: `access denied: ${endpoint} answered ${code(ACCESS_DENIED)} (${operation})`,
    };
  if (QUEUE_MISSING.test(text))
    return {
      kind: 'queue missing',
      reason: `queue missing: ${queue ?? 'a queue'} does not exist (${operation})`,
    };
  if (UNREACHABLE.test(text))
    return {
      kind: 'unreachable',
      reason: `unreachable: cannot reach ${endpoint} (${code(UNREACHABLE)}; ${operation})`,
    };
  if (THROTTLED.test(text) || (status !== undefined && status >= 500))
    return {
      kind: 'unavailable',
      reason: `unavailable: ${endpoint} answered ${status ?? ''} ${code(THROTTLED)} (${operation})`.replace(
        '  ',
        ' ',
      ),
    };
  return { kind: 'answered', reason: '' };
}

/**
 * What the SQS transport knows about its endpoint. The SDK keeps no connection (each request is an HTTPS
 * call), so health is the outcome of the latest request, recorded by a middleware on the client's stack
 * around each command — after the SDK's own retries — and read without a request of its own:
 *
 * - `connecting` before `connect()` resolves; `down` with the reason when it failed, and once closed.
 * - `up` while the latest request succeeded, or failed with an answer about the request itself (a queue
 *   missing — the detail says which — an invalid parameter).
 * - `connecting` with the reason while the latest request could not reach the endpoint (`unreachable`: refused,
 *   timed out, reset) or the endpoint was unavailable (5xx, throttled): the next request tries again.
 * - `down` with the reason while the latest request was refused for its credentials (`credentials missing`,
 *   `credentials refused`) or permissions (`access denied`): no retry mends that; the operator does.
 *
 * A subscription polls all the time (long polls of `waitTimeSeconds`), so a subscribed transport notices
 * within one poll; one that only publishes notices at its next publish. Reasons hold the endpoint, the
 * operation and the error's code — never credentials, never the text the endpoint sent back.
 */
export class SqsHealth {
  readonly #endpoint: string;
  #stage: { is: 'idle' | 'connected' | 'closed' } | { is: 'failed'; reason: string } = { is: 'idle' };
  #latest: { kind: FailureKind; reason: string } | undefined;

  constructor(endpoint: string) {
    this.#endpoint = endpoint;
  }

  /** Records the outcome of every command `client` sends from now on. */
  watch(client: SQSClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          const output = await next(args);
          this.#latest = undefined;
          return output;
        } catch (error) {
          const operation =
            (context as { commandName?: string }).commandName?.replace(/Command$/, '') ?? 'a request';
          const queue = (args.input as { QueueUrl?: unknown; QueueName?: unknown } | undefined) ?? {};
          const name = typeof queue.QueueUrl === 'string' ? queue.QueueUrl : queue.QueueName;
          const failure = classify(
            error,
            this.#endpoint,
            operation,
            typeof name === 'string' ? name : undefined,
          );
          this.#latest = failure.kind === 'answered' ? undefined : failure;
          throw error;
        }
      },
      { step: 'initialize', name: 'omnibusHealth', override: true },
    );
  }

  /** `connect()` resolved. */
  connected(): void {
    if (this.#stage.is !== 'closed') this.#stage = { is: 'connected' };
  }

  /** `connect()` failed: the reason of the request that failed, or `fallback`. */
  connectFailed(fallback: string): void {
    if (this.#stage.is !== 'closed') this.#stage = { is: 'failed', reason: this.#latest?.reason ?? fallback };
  }

  close(): void {
    this.#stage = { is: 'closed' };
  }

  health(): TransportHealth {
    const stage = this.#stage;
    if (stage.is === 'closed') return { connection: 'down', detail: 'closed' };
    if (stage.is === 'failed') return { connection: 'down', detail: stage.reason };
    if (stage.is === 'idle') return { connection: 'connecting', detail: 'connecting' };
    const latest = this.#latest;
    if (!latest) return { connection: 'up' };
    switch (latest.kind) {
      case 'unreachable':
      case 'unavailable':
        return { connection: 'connecting', detail: latest.reason };
      case 'queue missing':
        return { connection: 'up', detail: latest.reason };
      default:
        return { connection: 'down', detail: latest.reason };
    }
  }
}
