import { BrokerError } from './errors.ts';
import type { Hooks, PublishContext } from './middleware.ts';
import type { OutgoingMessage, PublishOutcome } from './transport.ts';

type PublishHook = NonNullable<Hooks['publish']>;

export function publishContext(transport: string, type: string, message: OutgoingMessage): PublishContext {
  return {
    transport,
    topic: message.topic,
    type,
    id: message.headers.ce_id!,
    key: message.key,
    headers: message.headers,
  };
}

/**
 * A batch through the publish middleware: every message runs its own chain; those whose chain reaches
 * `next` are sent together by `sendAll` (one batch, as without middleware), and each `next` then settles
 * with its own message's outcome, so a tracing middleware's span ends when that event is stored. A chain
 * that throws before `next` keeps its message unsent — and the later messages of its key, so a retry of the
 * failed ones cannot reorder the key. The outcome of each message is what its chain finally did.
 */
export async function publishBatchThroughHook(
  hook: PublishHook,
  contexts: PublishContext[],
  messages: OutgoingMessage[],
  sendAll: (messages: OutgoingMessage[]) => Promise<PublishOutcome[]>,
): Promise<PublishOutcome[]> {
  const reached = messages.map(() => deferred<void>());
  const stored = messages.map(() => deferred<void>());
  const chains = messages.map((_, index) =>
    hook(contexts[index]!, () => {
      reached[index]!.resolve();
      return stored[index]!.promise;
    }),
  );
  // Each chain either reaches `next` or settles without it (a throw, or a middleware that dropped it).
  const sendable = await Promise.all(
    chains.map((chain, index) =>
      Promise.race([
        reached[index]!.promise.then(() => true),
        chain.then(
          () => false,
          () => false,
        ),
      ]),
    ),
  );
  const blockedKeys = new Set<string>();
  const toSend: number[] = [];
  sendable.forEach((ready, index) => {
    const key = messages[index]!.key;
    const blocked = key !== undefined && blockedKeys.has(key);
    if (ready && !blocked) toSend.push(index);
    else if (ready) {
      stored[index]!.reject(
        new BrokerError(`not sent: an earlier event of key "${key}" in this batch failed in middleware`),
      );
    } else if (key !== undefined) blockedKeys.add(key);
  });
  let outcomes: PublishOutcome[];
  try {
    outcomes = await sendAll(toSend.map((index) => messages[index]!));
  } catch (error) {
    outcomes = toSend.map(() => error as Error);
  }
  toSend.forEach((index, position) => {
    const outcome = outcomes[position];
    if (outcome) stored[index]!.reject(outcome);
    else stored[index]!.resolve();
  });
  const settled = await Promise.allSettled(chains);
  return settled.map((result) =>
    result.status === 'fulfilled' ? undefined : toError(result.reason as unknown),
  );
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: Error): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a rejection no middleware awaited is the chain's business, not unhandled
  return { promise, resolve, reject };
}
