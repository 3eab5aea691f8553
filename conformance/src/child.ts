/**
 * A subscriber in a child process, for the cases that kill one with SIGKILL (see child-process.ts for the
 * modes). Reports what it does to the parent over IPC. argv: <url> <mode as JSON>
 */
import { createBus, createIdempotencyStore, type IdempotencyStore } from '@omnibus/core';
import type { ChildMode } from './child-process.ts';
import { testContract } from './harness.ts';

const [url, modeText] = process.argv.slice(2);
const mode = JSON.parse(modeText!) as ChildMode;
const send = (message: object) => process.send?.(message);
const forever = () => new Promise<never>(() => {});

/** The parent's store, reached over IPC: the parent and every child share one store. */
function ipcStore(): IdempotencyStore {
  let next = 0;
  const calls = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  process.on('message', (m: { storeReply?: { callId: number; result?: unknown; error?: string } }) => {
    const reply = m.storeReply;
    const call = reply && calls.get(reply.callId);
    if (!reply || !call) return;
    calls.delete(reply.callId);
    if (reply.error) call.reject(new Error(reply.error));
    else call.resolve(reply.result);
  });
  const call = <T>(op: string, key: string, arg?: number) =>
    new Promise<T>((resolve, reject) => {
      const callId = next++;
      calls.set(callId, { resolve: resolve as (value: unknown) => void, reject });
      send({ store: { callId, op, key, arg } });
    });
  return {
    claim: (key, leaseMs) => call('claim', key, leaseMs),
    complete: (key, ttlMs) => call('complete', key, ttlMs),
    release: (key) => call('release', key),
  };
}

const bus = await createBus({ url: url!, onError: (error) => send({ error: error.message }) });
const contract = testContract(mode.topic);
if (mode.kind === 'hold') {
  let completed = 0;
  await bus.subscribe(contract, { group: mode.group, concurrency: 4 }, async (_event, context) => {
    if (completed < mode.complete) {
      completed++;
      send({ done: context.id });
      return;
    }
    send({ holding: context.id });
    await forever(); // never settles: the event stays unacknowledged until the kill
  });
} else if (mode.kind === 'effect') {
  await bus.subscribe(
    contract,
    { group: mode.group, idempotency: { store: ipcStore() } },
    (_event, context) => {
      send({ effect: context.id });
    },
  );
} else if (mode.kind === 'graceful') {
  await bus.subscribe(contract, { group: mode.group, concurrency: 4 }, async (_event, context) => {
    send({ started: context.id });
    await new Promise((resolve) => setTimeout(resolve, mode.handlerMs));
    send({ done: context.id });
  });
  // The documented shutdown: on SIGTERM finish running handlers, hand the rest back, leave, exit 0.
  bus.closeOnSignals({ timeoutMs: 15_000 });
} else {
  const store = mode.store ? await createIdempotencyStore(mode.store) : ipcStore();
  await bus.subscribe(
    contract,
    { group: mode.group, idempotency: { store, leaseMs: mode.leaseMs } },
    async (_event, context) => {
      send({ started: context.id });
      await forever();
    },
  );
}
send({ ready: true });
