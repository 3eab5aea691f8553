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
    const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
    layers.push(metricsMiddleware(meterProvider.getMeter(INSTRUMENTATION_NAME)));
  }
  if (options.traces !== false) {
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    const tracer = tracerProvider.getTracer(INSTRUMENTATION_NAME);
    layers.push(tracingMiddleware(tracer, options.propagator ?? w3cTraceContext));
  }
  if (layers.length === 1) return layers[0]!;
  const [outer, inner] = layers as [Layer, Layer];
  return {
    name: 'opentelemetry',
    publish: (context, next) => outer.publish(context, () => inner.publish(context, next)),
    handle: (context, next) => outer.handle(context, () => inner.handle(context, next)),
    attach: (bus) => {
      outer.attach?.(bus);
      inner.attach?.(bus);
    },
  };
}

/** The metrics or the tracing part: both hooks, and `attach` where the part watches the bus. */
type Layer = Required<Omit<Middleware, 'attach'>> & Pick<Middleware, 'attach'>;
