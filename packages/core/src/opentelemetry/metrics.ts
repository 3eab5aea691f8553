import {
  type Attributes,
  createNoopMeter,
  type Meter,
  type MeterProvider,
  type ObservableResult,
} from '@opentelemetry/api';
import type { SubscriptionLag } from '../lag.ts';
import type { Middleware, MiddlewareBus } from '../middleware.ts';
import { errorType, handleAttributes, lagAttributes, publishAttributes } from './attributes.ts';

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
  /**
   * Observable gauge: events of the topic the consumer group has not consumed yet, as the broker counts them
   * (`bus.lag()`), per (topic, group) the bus subscribes; read at each collection.
   */
  lag: 'omnibus.consumer.lag',
} as const;

/**
 * Counters by outcome, durations and handlers in flight, after the OpenTelemetry messaging conventions.
 *
 * The meter is taken from `meterProvider()` again whenever that returns another provider, so a global
 * meter provider registered after the bus was created is used from the next event on. While the provider's
 * meter is the API's no-op meter (nothing registered), the hooks only call `next`: no attributes, no clock.
 */
export function metricsMiddleware(meterProvider: () => MeterProvider, scope: string): Required<Middleware> {
  const buses = new Set<MiddlewareBus>();
  let provider: MeterProvider | undefined;
  let instruments: Instruments | undefined;
  const current = (): Instruments | undefined => {
    const latest = meterProvider();
    if (latest !== provider) {
      provider = latest;
      const meter = latest.getMeter(scope);
      instruments = meter === createNoopMeter() ? undefined : createInstruments(meter, buses);
    }
    return instruments;
  };

  return {
    name: 'opentelemetry-metrics',

    enabled: () => current() !== undefined,

    attach(bus) {
      buses.add(bus);
      current(); // registers the lag gauge now if a meter provider is already there
    },

    publish(context, next) {
      const i = current();
      return i ? i.publish(context, next) : next();
    },

    handle(context, next) {
      const i = current();
      return i ? i.handle(context, next) : next();
    },
  };
}

type Instruments = Pick<Required<Middleware>, 'publish' | 'handle'>;

function createInstruments(meter: Meter, buses: Set<MiddlewareBus>): Instruments {
  lagGauge(meter, buses);
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

/**
 * The {@link METRICS.lag} gauge over every bus the middleware is attached to. Each collection asks each open
 * bus for its lag (`bus.lag()`, all buses at once); closed buses are dropped. A bus whose lag cannot be read
 * contributes nothing to that collection, and its failure goes to the bus's `onError` once — again only
 * after a collection succeeded in between — never to the metrics pipeline.
 */
function lagGauge(meter: Meter, buses: Set<MiddlewareBus>): void {
  const failing = new WeakSet<MiddlewareBus>();
  /** A read still on its way (a slow broker outlasting the collection's time-out) is joined, not repeated. */
  const reading = new WeakMap<MiddlewareBus, Promise<SubscriptionLag[]>>();
  const gauge = meter.createObservableGauge(METRICS.lag, {
    unit: '{message}',
    description: 'Events the consumer group has not consumed yet, as the broker counts them',
  });
  const observe = async (bus: MiddlewareBus, result: ObservableResult): Promise<void> => {
    let read = reading.get(bus);
    if (!read) {
      read = bus.lag().finally(() => reading.delete(bus));
      reading.set(bus, read);
    }
    let lags: SubscriptionLag[];
    try {
      lags = await read;
    } catch (error) {
      if (failing.has(bus) || bus.closed) return;
      failing.add(bus);
      bus.reportError(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    failing.delete(bus);
    for (const { topic, group, lag } of lags) {
      if (lag !== undefined) result.observe(lag, lagAttributes(bus.transport, topic, group));
    }
  };
  gauge.addCallback(async (result) => {
    for (const b of buses) if (b.closed) buses.delete(b);
    await Promise.all([...buses].map((b) => observe(b, result)));
  });
}
