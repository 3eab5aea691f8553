/**
 * Middleware: code that runs around every publish and every handler run of a bus — tracing, metrics,
 * tenancy headers, audit logs. Registered with `createBus({ middleware: [...] })` or `bus.use(...)`.
 *
 * Both hooks follow the onion model (Watermill, hono): a middleware gets a context and `next`, does its
 * work before and after `await next()`, and must call `next` exactly once unless it means to stop the
 * publish or fail the run by throwing. The first registered middleware is the outermost. A bus with no
 * middleware calls neither hook and allocates nothing for them.
 */
import type { SubscriptionLag } from './lag.ts';

/** What a publish middleware sees: one event on its way to the broker. */
export interface PublishContext {
  /** Adapter name (`kafka`, `rabbitmq`, `redis`, `sqs`, `memory`, …). */
  readonly transport: string;
  readonly topic: string;
  /** CloudEvents `type` of the event. */
  readonly type: string;
  /** CloudEvents id. */
  readonly id: string;
  readonly key: string | undefined;
  /**
   * The headers that will be sent, CloudEvents attributes included. Add yours here before calling `next`
   * (e.g. `traceparent`, a tenant id); names starting `ce_`, `omnibus-` or `content-type` belong to the core
   * and must not be changed. String values only. The event must still fit the adapter's size limit.
   */
  readonly headers: Record<string, string>;
}

/**
 * What became of a handler run, as the core decided it: `ack` (the handler returned), `retry` (it threw and
 * attempts are left), `dead-letter` (it threw on the last attempt) or `duplicate-skipped` (idempotency
 * found the event already processed, so the handler did not run). An acked run may still be handed back to
 * the broker if the subscription closes or its lease is lost first.
 */
export type HandleOutcome = 'ack' | 'retry' | 'dead-letter' | 'duplicate-skipped';

/** What a handle middleware sees: one attempt at one delivered event. */
export interface HandleContext {
  /** Adapter name (`kafka`, `rabbitmq`, `redis`, `sqs`, `memory`, …). */
  readonly transport: string;
  readonly topic: string;
  readonly group: string;
  /** CloudEvents id; `undefined` for dead letters read with `subscribeDeadLetters`. */
  readonly id: string | undefined;
  readonly key: string | undefined;
  /** 1 on the first attempt, counting retries and broker redeliveries. */
  readonly attempt: number;
  /** Attempts after which a failing event is dead-lettered. */
  readonly maxAttempts: number;
  /** The headers as received (CloudEvents attributes, `traceparent`, the publisher's own). Read only. */
  readonly headers: Readonly<Record<string, string>>;
  /** Set once `next` has settled (read it after `await next()`, or in `catch`/`finally`). */
  outcome: HandleOutcome | undefined;
  /** What the handler (or a middleware inside this one) threw, when the outcome is `retry` or `dead-letter`. */
  error: unknown;
}

/**
 * What {@link Middleware.attach} hands a middleware: the few things of a bus a middleware may watch, for
 * instruments that are read rather than recorded per event (e.g. the consumer-lag gauge of `openTelemetry()`).
 */
export interface MiddlewareBus {
  /** Adapter name (`kafka`, `rabbitmq`, `redis`, `sqs`, `memory`, …). */
  readonly transport: string;
  /** True once the bus's `close()` was called: a middleware should let go of the bus then. */
  readonly closed: boolean;
  /** `bus.lag()`: asks the broker for the backlog of each (topic, group) the bus subscribes. */
  lag(): Promise<SubscriptionLag[]>;
  /** Hands an error to the bus's `onError` (by default its logger). Report a failure once, not per attempt. */
  reportError(error: Error): void;
}

/**
 * A middleware: every hook may be left out. Throwing from `publish` rejects the publish (nothing is
 * sent if `next` was not called); throwing from `handle` counts as the handler failing (retry, then
 * dead-letter).
 */
export interface Middleware {
  /** Shown in errors about this middleware. */
  readonly name?: string;
  /** Wraps each event `publish` and `publishBatch` send; `next` resolves once the broker has it. */
  publish?(context: PublishContext, next: () => Promise<void>): Promise<void>;
  /** Wraps each handler run; `next` runs the handler (or skips a duplicate) and rejects if it threw. */
  handle?(context: HandleContext, next: () => Promise<void>): Promise<void>;
  /**
   * Called once per bus the middleware is registered on (by `createBus({ middleware })` or `bus.use`), before
   * the bus is used. One middleware may be registered on several buses. Must not throw. Buses whose
   * middleware has no `attach` create nothing for it.
   */
  attach?(bus: MiddlewareBus): void;
  /**
   * Asked before each publish and handler run: `false` leaves this middleware out of that one, as if it were
   * not registered. For a middleware with nothing to do at the moment — `openTelemetry()` while no
   * OpenTelemetry SDK is registered: a bus whose middleware all answer `false` builds no context and adds
   * no work per event. Called for every event (sometimes twice), so it must be cheap, and must not throw.
   * @default always enabled
   */
  enabled?(): boolean;
}

/** The middlewares' hooks composed into one function per kind; `undefined` when no middleware has one. */
export interface Hooks {
  publish: ((context: PublishContext, send: () => Promise<void>) => Promise<void>) | undefined;
  handle: ((context: HandleContext, run: () => Promise<void>) => Promise<void>) | undefined;
  /** Whether `publish` has anything to run for the next event (false: call the broker directly). */
  publishing(): boolean;
  /** Whether `handle` has anything to run for the next handler run (false: run the handler directly). */
  handling(): boolean;
}

export function composeHooks(middleware: readonly Middleware[]): Hooks {
  const publishers = middleware.filter((m) => m.publish);
  const handlers = middleware.filter((m) => m.handle);
  /** The first middleware at or after `index` enabled for this event; `list.length` when none is. */
  const nextEnabled = (list: Middleware[], index: number): number => {
    let i = index;
    while (i < list.length && list[i]!.enabled?.() === false) i++;
    return i;
  };
  const active = (list: Middleware[]) =>
    list.length === 0
      ? () => false
      : list.every((m) => !m.enabled)
        ? () => true
        : () => nextEnabled(list, 0) < list.length;
  return {
    publishing: active(publishers),
    handling: active(handlers),
    publish:
      publishers.length === 0
        ? undefined
        : (context, send) => {
            const step = (from: number): Promise<void> => {
              const index = nextEnabled(publishers, from);
              if (index === publishers.length) return send();
              // The innermost enabled middleware gets `send` itself: no closure for the last step.
              const last = nextEnabled(publishers, index + 1) === publishers.length;
              return publishers[index]!.publish!(context, last ? send : () => step(index + 1));
            };
            return step(0);
          },
    handle:
      handlers.length === 0
        ? undefined
        : (context, run) => {
            const step = async (from: number): Promise<void> => {
              const index = nextEnabled(handlers, from);
              if (index === handlers.length) return run();
              const last = nextEnabled(handlers, index + 1) === handlers.length;
              try {
                await handlers[index]!.handle!(context, last ? run : () => step(index + 1));
              } catch (error) {
                // A middleware that throws after a successful run turns it into a failure: the layers
                // outside it must see the outcome the core will act on.
                if (context.outcome === undefined || context.outcome === 'ack') failed(context, error);
                throw error;
              }
            };
            return step(0);
          },
  };
}

/** Records a failed run on `context`: retried while attempts are left, else dead-lettered. */
export function failed(context: HandleContext, error: unknown): void {
  context.outcome = context.attempt >= context.maxAttempts ? 'dead-letter' : 'retry';
  context.error = error;
}
