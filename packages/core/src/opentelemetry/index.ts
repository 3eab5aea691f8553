/**
 * `@omnibus/core/opentelemetry`: traces and metrics for a bus, on `@opentelemetry/api` (an optional peer
 * dependency: only this entry point imports it, so applications that do not use it need not install it).
 *
 * ```ts
 * const bus = await createBus({ url, middleware: [openTelemetry()] });
 * ```
 */
import {
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  type TextMapPropagator,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { Middleware } from '../middleware.ts';
import { metricsMiddleware } from './metrics.ts';
import { w3cTraceContext } from './trace-context.ts';
import { tracingMiddleware } from './tracing.ts';

export { METRICS } from './metrics.ts';
export { TRACEPARENT, TRACESTATE, w3cTraceContext } from './trace-context.ts';

/** Instrumentation scope name of the tracer and the meter. */
export const INSTRUMENTATION_NAME = '@omnibus/core';

export interface OpenTelemetryOptions {
  /** Where spans go. @default the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** Where metrics go. @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /**
   * How trace context travels in event headers. Pass `propagation` from `@opentelemetry/api` to use the
   * application's registered propagator.
   * @default W3C Trace Context in `traceparent` / `tracestate` ({@link w3cTraceContext})
   */
  propagator?: TextMapPropagator;
  /** Record `send` and `process` spans. @default true */
  traces?: boolean;
  /** Record the {@link METRICS}. @default true */
  metrics?: boolean;
}

/**
 * A middleware that traces and measures every publish and handler run after the OpenTelemetry messaging
 * semantic conventions: spans `send <topic>` (PRODUCER) and `process <topic>` (CONSUMER) joined through
 * W3C Trace Context in the event headers, and the {@link METRICS} — among them the consumer-lag gauge, read
 * from `bus.lag()` of every bus the middleware is registered on. Register it first so it sees what the
 * other middleware do: `createBus({ url, middleware: [openTelemetry(), ...] })`.
 */
export function openTelemetry(options: OpenTelemetryOptions = {}): Middleware {
  const layers: Layer[] = [];
  if (options.metrics !== false) {
    const { meterProvider } = options;
    // Read again per event (a cheap global lookup): a provider registered later is picked up.
    const providerOf = meterProvider ? () => meterProvider : () => metrics.getMeterProvider();
    layers.push(metricsMiddleware(providerOf, INSTRUMENTATION_NAME));
  }
  if (options.traces !== false) {
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    const tracer = tracerProvider.getTracer(INSTRUMENTATION_NAME);
    layers.push(
      tracingMiddleware(tracer, options.propagator ?? w3cTraceContext, recordingOf(tracerProvider)),
    );
  }
  if (layers.length === 1) return layers[0]!;
  const [outer, inner] = layers as [Layer, Layer];
  // A part with nothing to do (no meter provider; no tracer provider and no context manager) is left out
  // of the event, without a closure for it.
  return {
    name: 'opentelemetry',
    enabled: () => outer.enabled() || inner.enabled(),
    publish: (context, next) =>
      !outer.enabled()
        ? inner.publish(context, next)
        : !inner.enabled()
          ? outer.publish(context, next)
          : outer.publish(context, () => inner.publish(context, next)),
    handle: (context, next) =>
      !outer.enabled()
        ? inner.handle(context, next)
        : !inner.enabled()
          ? outer.handle(context, next)
          : outer.handle(context, () => inner.handle(context, next)),
    attach: (bus) => {
      outer.attach?.(bus);
      inner.attach?.(bus);
    },
  };
}

/**
 * Whether spans of `provider` can record. The global provider is the API's proxy: until an SDK is
 * registered behind it (possibly after the bus was created) its tracers are no-ops. Once one is, it stays.
 * Any other provider is taken to record; its sampler decides per span.
 */
function recordingOf(provider: TracerProvider): () => boolean {
  if (!(provider instanceof ProxyTracerProvider)) return () => true;
  let registered = false;
  return () => {
    if (!registered) registered = provider.getDelegateTracer(INSTRUMENTATION_NAME) !== undefined;
    return registered;
  };
}

/** The metrics or the tracing part: the hooks, `enabled`, and `attach` where the part watches the bus. */
type Layer = Required<Omit<Middleware, 'attach'>> & Pick<Middleware, 'attach'>;
