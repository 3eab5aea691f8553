import type { Attributes, Meter } from '@opentelemetry/api';
import type { Middleware } from '../middleware.ts';
import { errorType, handleAttributes, publishAttributes } from './attributes.ts';

/** The conventions' advice for messaging durations, in seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** Metric names, for dashboards and alerts. */
export const METRICS = {
  /** Counter of publishes (`error.type` set when the broker did not take the event). */
  sent: 'messaging.client.sent.messages',
  /** Histogram of publish durations until the broker has the event, in seconds. */
  sendDuration: 'messaging.client.operation.duration',
  /** Counter of handler runs, by `omnibus.outcome` (ack, retry, dead-letter, duplicate-skipped). */
  consumed: 'messaging.client.consumed.messages',
  /** Histogram of handler run durations, in seconds, by `omnibus.outcome`. */
  processDuration: 'messaging.process.duration',
  /** Up-down counter of handler runs in progress. */
  active: 'omnibus.process.active',
} as const;

/** Counters by outcome, durations and handlers in flight, after the OpenTelemetry messaging conventions. */
export function metricsMiddleware(meter: Meter): Required<Middleware> {
  const sent = meter.createCounter(METRICS.sent, { unit: '{message}', description: 'Events published' });
  const sendDuration = meter.createHistogram(METRICS.sendDuration, {
    unit: 's',
    description: 'Time until the broker had a published event',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const consumed = meter.createCounter(METRICS.consumed, {
    unit: '{message}',
    description: 'Handler runs, by outcome',
  });
  const processDuration = meter.createHistogram(METRICS.processDuration, {
    unit: 's',
    description: 'Duration of handler runs, by outcome',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const active = meter.createUpDownCounter(METRICS.active, {
    unit: '{message}',
    description: 'Handler runs in progress',
  });

  return {
    name: 'opentelemetry-metrics',

    async publish(context, next) {
      const started = performance.now();
      const attributes = publishAttributes(context);
      try {
        await next();
      } catch (error) {
        attributes['error.type'] = errorType(error);
        throw error;
      } finally {
        sent.add(1, attributes);
        sendDuration.record((performance.now() - started) / 1000, attributes);
      }
    },

    async handle(context, next) {
      const started = performance.now();
      const attributes = handleAttributes(context);
      active.add(1, attributes);
      try {
        await next();
      } finally {
        active.add(-1, attributes);
        const outcomeAttributes: Attributes = {
          ...attributes,
          'omnibus.outcome': context.outcome ?? 'retry',
        };
        if (context.outcome === 'retry' || context.outcome === 'dead-letter')
          outcomeAttributes['error.type'] = errorType(context.error);
        consumed.add(1, outcomeAttributes);
        processDuration.record((performance.now() - started) / 1000, outcomeAttributes);
      }
    },
  };
}
