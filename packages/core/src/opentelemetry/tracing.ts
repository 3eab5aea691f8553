import {
  context as contextApi,
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
import type { Middleware } from '../middleware.ts';
import { errorType, handleAttributes, publishAttributes } from './attributes.ts';

/**
 * Spans after the OpenTelemetry messaging conventions: `send <topic>` (PRODUCER) around each publish,
 * until the broker has the event, with its context injected into the event's headers; `process <topic>`
 * (CONSUMER) around each handler run, child of the sender's span and linked to it, current while the
 * handler runs so that what it publishes joins the trace.
 */
export function tracingMiddleware(
  tracer: Tracer,
  propagator: TextMapPropagator,
): Required<Omit<Middleware, 'attach'>> {
  return {
    name: 'opentelemetry-tracing',

    async publish(context, next) {
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
    },

    async handle(context, next) {
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
    },
  };
}

function fail(span: Span, error: unknown): void {
  span.setAttribute('error.type', errorType(error));
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}
