import {
  type Context,
  createTraceState,
  isSpanContextValid,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  TraceFlags,
  trace,
} from '@opentelemetry/api';

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

const TRACEPARENT_PATTERN = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;

/**
 * W3C Trace Context in the `traceparent` and `tracestate` headers — the names the CloudEvents Distributed
 * Tracing extension uses — written and read with nothing but `@opentelemetry/api`, so it works whether or
 * not the application registered a global propagator. Pass `propagator: propagation` to
 * {@link openTelemetry} to use the application's own (B3, Jaeger, baggage) instead.
 */
export const w3cTraceContext: TextMapPropagator = {
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const spanContext = trace.getSpanContext(context);
    if (!spanContext || !isSpanContextValid(spanContext)) return;
    const flags = (spanContext.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
    setter.set(carrier, TRACEPARENT, `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`);
    const state = spanContext.traceState?.serialize();
    if (state) setter.set(carrier, TRACESTATE, state);
  },

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = single(getter.get(carrier, TRACEPARENT));
    const match = header === undefined ? null : TRACEPARENT_PATTERN.exec(header.trim());
    // Version ff is forbidden; version 00 has exactly four fields (later versions may add more).
    if (!match || match[1] === 'ff' || (match[1] === '00' && match[5] !== undefined)) return context;
    const spanContext = {
      traceId: match[2]!,
      spanId: match[3]!,
      traceFlags: Number.parseInt(match[4]!, 16) & TraceFlags.SAMPLED,
      isRemote: true,
      traceState: undefined as ReturnType<typeof createTraceState> | undefined,
    };
    if (!isSpanContextValid(spanContext)) return context;
    const state = single(getter.get(carrier, TRACESTATE));
    if (state) spanContext.traceState = createTraceState(state);
    return trace.setSpanContext(context, spanContext);
  },

  fields: () => [TRACEPARENT, TRACESTATE],
};

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
