import { type ChildProcess, fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IdempotencyStore } from '@omnibus/core';

/** What a child subscriber does (see child.ts). */
export type ChildMode =
  /** Completes the first `complete` events, then holds every further one unsettled, reporting each. */
  | { kind: 'hold'; topic: string; group: string; complete: number }
  /** Idempotent handler on the suite's store (over IPC): reports each effect, then the store records it. */
  | { kind: 'effect'; topic: string; group: string }
  /** Idempotent handler that takes the lease, reports `started`, and never finishes. */
  | { kind: 'lease-holder'; topic: string; group: string; leaseMs: number; store?: string }
  /** Handlers report `started`, take `handlerMs`, report `done`; `bus.closeOnSignals()` handles SIGTERM. */
  | { kind: 'graceful'; topic: string; group: string; handlerMs: number };

type StoreOp = 'claim' | 'complete' | 'release';

interface ChildMessage {
  ready?: boolean;
  done?: string;
  holding?: string;
  effect?: string;
  started?: string;
  error?: string;
  store?: { callId: number; op: StoreOp; key: string; arg?: number };
}

/** A subscriber in a real child process, as the crash cases need: SIGKILL leaves its events unacked. */
export interface ChildHandle {
  ready: boolean;
  readonly done: Set<string>;
  readonly holding: Set<string>;
  readonly effects: string[];
  readonly started: string[];
  /** Errors the child's bus reported. */
  readonly errors: string[];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  kill(): void;
  /** Sends a signal other than SIGKILL (e.g. SIGTERM, to shut down gracefully). */
  signal(name: NodeJS.Signals): void;
  /**
   * Answers the child's idempotency-store calls from `store` (the child then shares it). `before` sees each
   * call first and may return `'drop'` to leave it unanswered (e.g. after killing the child).
   */
  serveStore(
    store: IdempotencyStore,
    before?: (op: StoreOp, key: string, arg: number | undefined) => 'drop' | undefined,
  ): void;
}

export function forkChild(url: string, mode: ChildMode): ChildHandle {
  // child.ts in the workspace, child.js in the published package: this module's own extension.
  const entry = fileURLToPath(new URL(`./child${extname(import.meta.url)}`, import.meta.url));
  const process: ChildProcess = fork(entry, [url, JSON.stringify(mode)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let store: IdempotencyStore | undefined;
  let before: ((op: StoreOp, key: string, arg: number | undefined) => 'drop' | undefined) | undefined;
  const handle: ChildHandle = {
    ready: false,
    done: new Set(),
    holding: new Set(),
    effects: [],
    started: [],
    errors: [],
    exited: new Promise((resolve) => process.once('exit', (code) => resolve(code))),
    kill: () => {
      if (process.exitCode === null && process.signalCode === null) process.kill('SIGKILL');
    },
    signal: (name) => {
      if (process.exitCode === null && process.signalCode === null) process.kill(name);
    },
    serveStore(s, b) {
      store = s;
      before = b;
    },
  };
  process.on('message', (m: ChildMessage) => {
    if (m.ready) handle.ready = true;
    if (m.done) handle.done.add(m.done);
    if (m.holding) handle.holding.add(m.holding);
    if (m.effect) handle.effects.push(m.effect);
    if (m.started) handle.started.push(m.started);
    if (m.error) handle.errors.push(m.error);
    if (m.store) void answer(m.store);
  });
  async function answer(call: NonNullable<ChildMessage['store']>): Promise<void> {
    if (before?.(call.op, call.key, call.arg) === 'drop') return;
    try {
      if (!store) throw new Error('the suite serves no idempotency store to this child');
      const result =
        call.op === 'claim'
          ? await store.claim(call.key, call.arg!)
          : call.op === 'complete'
            ? await store.complete(call.key, call.arg!)
            : await store.release(call.key);
      process.send?.({ storeReply: { callId: call.callId, result } });
    } catch (error) {
      process.send?.({ storeReply: { callId: call.callId, error: (error as Error).message } });
    }
  }
  return handle;
}
