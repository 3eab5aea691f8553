import {
  context as contextApi,
  createContextKey,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { HandleContext, Middleware, PublishContext } from '../middleware.ts';
import { errorType, handleAttributes, publishAttributes } from './attributes.ts';

/**
 * Spans after the OpenTelemetry messaging conventions: `send <topic>` (PRODUCER) around each publish,
 * until the broker has the event, with its context injected into the event's headers; `process <topic>`
 * (CONSUMER) around each handler run, child of the sender's span and linked to it, current while the
 * handler runs so that what it publishes joins the trace.
 *
 * While `recording()` is false (no tracer provider registered: every span would be the API's non-recording
 * one) no span is started: the context passes through as the API's no-op spans would pass it — the active
 * one injected into the headers, the sender's made current around the handler — and nothing else is built.
 */
export function tracingMiddleware(
  tracer: Tracer,
  propagator: TextMapPropagator,
  recording: () => boolean = () => true,
): Required<Omit<Middleware, 'attach'>> {
  return {
    name: 'opentelemetry-tracing',

    // Without spans, the context still passes through where a context manager can carry it.
    enabled: () => recording() || contextManagerRegistered(),

    publish(context, next) {
      if (recording()) return sendSpan(context, next);
      propagator.inject(contextApi.active(), context.headers, defaultTextMapSetter);
      return next();
    },

    handle(context, next) {
      if (recording()) return processSpan(context, next);
      const creation = propagator.extract(ROOT_CONTEXT, context.headers, defaultTextMapGetter);
      return creation === ROOT_CONTEXT ? next() : contextApi.with(creation, next);
    },
  };

  async function sendSpan(context: PublishContext, next: () => Promise<void>): Promise<void> {
    const parent = contextApi.active();
    const attributes = publishAttributes(context);
    attributes['messaging.message.id'] = context.id;
    attributes['cloudevents.event_id'] = context.id;
    attributes['cloudevents.event_type'] = context.type;
    const span = tracer.startSpan(`send ${context.topic}`, { kind: SpanKind.PRODUCER, attributes }, parent);
    propagator.inject(trace.setSpan(parent, span), context.headers, defaultTextMapSetter);
    try {
      await next();
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  async function processSpan(context: HandleContext, next: () => Promise<void>): Promise<void> {
    // From the event alone: whatever context the consume loop happens to run in is not the event's.
    const creation = propagator.extract(ROOT_CONTEXT, context.headers, defaultTextMapGetter);
    const sender = trace.getSpanContext(creation);
    const links: Link[] = sender && isSpanContextValid(sender) ? [{ context: sender }] : [];
    const attributes = handleAttributes(context);
    if (context.id !== undefined) {
      attributes['messaging.message.id'] = context.id;
      attributes['cloudevents.event_id'] = context.id;
    }
    attributes['omnibus.attempt'] = context.attempt;
    const span = tracer.startSpan(
      `process ${context.topic}`,
      { kind: SpanKind.CONSUMER, attributes, links },
      creation,
    );
    try {
      await contextApi.with(trace.setSpan(creation, span), next);
    } finally {
      const outcome = context.outcome;
      if (outcome !== undefined) span.setAttribute('omnibus.outcome', outcome);
      if (outcome === 'retry' || outcome === 'dead-letter') {
        fail(span, context.error);
        span.addEvent(outcome, { 'omnibus.attempt': context.attempt });
      } else if (outcome === 'duplicate-skipped') span.addEvent(outcome);
      span.end();
    }
  }
}

const PROBE = ROOT_CONTEXT.setValue(createContextKey('omnibus context manager probe'), true);
const probeIsActive = () => contextApi.active() === PROBE;

/** Whether a context manager is registered: the API's no-op one makes no context active, not even in `with`. */
function contextManagerRegistered(): boolean {
  return contextApi.with(PROBE, probeIsActive);
}

function fail(span: Span, error: unknown): void {
  span.setAttribute('error.type', errorType(error));
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}
