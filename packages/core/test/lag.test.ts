import type { Attributes } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, expect, it } from 'vitest';
import {
  type Bus,
  type BusOptions,
  createBus,
  createMemoryTransport,
  type Delivery,
  defineEvent,
  type Middleware,
  type MiddlewareBus,
  type Transport,
} from '../src/index.ts';
import { METRICS, openTelemetry } from '../src/opentelemetry/index.ts';

const schema = { type: 'record', name: 'Job', fields: [{ name: 'n', type: 'int' }] } as const;
const Job = defineEvent({ type: 'lag.job', version: 1, avro: schema });

const until = async (condition: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** A gate the handlers wait on: the events they hold stay unacknowledged until `open()`. */
function gate() {
  let open!: () => void;
  const closed = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { closed, open };
}

const buses: Bus[] = [];
async function bus(options: BusOptions): Promise<Bus> {
  const b = await createBus(options);
  buses.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close({ timeoutMs: 1_000 })));
});

/** A memory transport seen through a wrapper whose `lag` is `lag` (left out when undefined). */
function withLag(url: string, lag: Transport['lag']): Transport {
  const inner = createMemoryTransport(new URL(url));
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    connect: () => inner.connect(),
    publish: (message) => inner.publish(message),
    provision: (topic, groups) => inner.provision(topic, groups),
    subscribe: (request) => inner.subscribe(request),
    close: () => inner.close(),
    ...(lag && { lag }),
  };
}

/**
 * Collects on demand: each `collect()` runs the gauge's callback once. Delta temporality, so that a collection
 * holds what that callback observed: with cumulative temporality the SDK goes on exporting the last value of
 * an attribute set no longer observed.
 */
class ManualReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
  }

  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** The lag gauge's points after one collection, as `topic/group` → value, plus the collection's errors. */
async function readLag(reader: MetricReader): Promise<{ points: Record<string, number>; errors: unknown[] }> {
  const { resourceMetrics, errors } = await reader.collect();
  const metric = resourceMetrics.scopeMetrics
    .flatMap((s) => s.metrics)
    .find((m) => m.descriptor.name === METRICS.lag);
  const points: Record<string, number> = {};
  for (const p of metric?.dataPoints ?? []) {
    const a = p.attributes as Attributes;
    points[`${a['messaging.destination.name']}/${a['messaging.consumer.group.name']}`] = p.value as number;
  }
  return { points, errors };
}

const event = (topic: string, i: number) => ({
  topic,
  key: `k${i % 3}`,
  body: new Uint8Array([i]),
  headers: {},
});

it('memory: counts what a group has not acknowledged, waiting or held, per group, exactly', async () => {
  const transport = createMemoryTransport(new URL('memory://lag-transport'));
  await transport.connect();
  await transport.provision('lag.t', ['a', 'b']);
  for (let i = 0; i < 7; i++) await transport.publish(event('lag.t', i));
  expect(await transport.lag!('lag.t', 'a')).toBe(7);
  expect(await transport.lag!('lag.t', 'b')).toBe(7);
  expect(await transport.lag!('lag.t', 'never-provisioned')).toBeUndefined();
  expect(await transport.lag!('lag.unknown', 'a')).toBeUndefined();

  const held: Delivery[] = [];
  const subscription = await transport.subscribe({
    topic: 'lag.t',
    group: 'a',
    maxInFlight: 100,
    onDelivery: async (d) => void held.push(d),
    onError: (error) => expect.fail(error.message),
  });
  await until(() => held.length === 7);
  expect(await transport.lag!('lag.t', 'a')).toBe(7); // handed over, not acknowledged
  await Promise.all(held.slice(0, 4).map((d) => d.ack()));
  expect(await transport.lag!('lag.t', 'a')).toBe(3);
  await held[4]!.release();
  expect(await transport.lag!('lag.t', 'a')).toBe(3); // handed back: still to consume
  await until(() => held.length === 8);
  await Promise.all(held.slice(5).map((d) => d.ack()));
  expect(await transport.lag!('lag.t', 'a')).toBe(0);
  expect(await transport.lag!('lag.t', 'b')).toBe(7);
  await subscription.close();
  await transport.close();
});

it('bus.lag() reports each (topic, group) the bus consumes once, dead-letter readers included', async () => {
  const b = await bus({ url: 'memory://lag-bus' });
  const held = gate();
  let started = 0;
  const handler = async () => {
    started++;
    await held.closed;
  };
  expect(await b.lag()).toEqual([]);
  await b.subscribe(Job, { group: 'workers', concurrency: 1 }, handler);
  await b.subscribe(Job, { group: 'workers', concurrency: 1 }, handler);
  await b.subscribe(Job, { group: 'audit', concurrency: 1 }, handler);
  await b.subscribeDeadLetters(Job, {}, () => {});
  for (let n = 0; n < 5; n++) await b.publish(Job, { n }, { key: 'one-key' });
  await until(() => started === 2);
  const byPair = (lags: Awaited<ReturnType<Bus['lag']>>) =>
    Object.fromEntries(lags.map((l) => [`${l.topic}/${l.group}`, l.lag]));
  expect((await b.lag()).length).toBe(3);
  expect(byPair(await b.lag())).toEqual({
    'lag.job/workers': 5,
    'lag.job/audit': 5,
    'lag.job.dlq/dead-letters': 0,
  });
  held.open();
  await until(() => started === 10);
  await expect
    .poll(async () => byPair(await b.lag()))
    .toEqual({
      'lag.job/workers': 0,
      'lag.job/audit': 0,
      'lag.job.dlq/dead-letters': 0,
    });
  await b.close();
  expect(await b.lag()).toEqual([]);
});

it('bus.lag() says undefined where the adapter cannot tell, and rejects when the broker cannot be asked', async () => {
  const blind = await bus({ transport: withLag('memory://lag-blind', undefined) });
  await blind.subscribe(Job, { group: 'g' }, () => {});
  expect(await blind.lag()).toEqual([{ topic: 'lag.job', group: 'g', lag: undefined }]);

  const refusal = new Error('broker unreachable');
  const failing = await bus({
    transport: withLag('memory://lag-failing', async (_topic, group) => {
      if (group === 'dead-letters') return 0;
      throw refusal;
    }),
  });
  await failing.subscribe(Job, { group: 'g' }, () => {});
  await failing.subscribeDeadLetters(Job, {}, () => {});
  await expect(failing.lag()).rejects.toBe(refusal);
});

it('openTelemetry() reads the backlog of each subscribed group into the omnibus.consumer.lag gauge', async () => {
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const b = await bus({
    url: 'memory://lag-gauge',
    middleware: [openTelemetry({ meterProvider, traces: false })],
  });
  const held = gate();
  let started = 0;
  await b.subscribe(Job, { group: 'g', concurrency: 1 }, async () => {
    started++;
    await held.closed;
  });
  for (let n = 0; n < 4; n++) await b.publish(Job, { n }, { key: 'k' });
  await until(() => started === 1);

  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const metric = resourceMetrics.scopeMetrics
    .flatMap((s) => s.metrics)
    .find((m) => m.descriptor.name === 'omnibus.consumer.lag');
  expect(metric?.descriptor).toMatchObject({ unit: '{message}', type: 'OBSERVABLE_GAUGE' });
  expect(metric?.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
    [
      {
        'messaging.system': 'memory',
        'messaging.destination.name': 'lag.job',
        'messaging.consumer.group.name': 'g',
      },
      4,
    ],
  ]);
  held.open();
  await expect.poll(async () => (await readLag(reader)).points['lag.job/g']).toBe(0);
  await meterProvider.shutdown();
});

it('one middleware watches every bus it is registered on (createBus or bus.use) until the bus closes', async () => {
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const telemetry = openTelemetry({ meterProvider });
  const first = await bus({ url: 'memory://lag-first', middleware: [telemetry] });
  const second = await bus({ url: 'memory://lag-second' });
  second.use(telemetry);
  const Other = defineEvent({ type: 'lag.other', version: 1, avro: schema });
  await first.provision(Job, { groups: ['a'] });
  await second.provision(Other, { groups: ['b'] });
  await first.publish(Job, { n: 1 });
  await second.publish(Other, { n: 1 });
  await second.publish(Other, { n: 2 });
  const never = gate();
  await first.subscribe(Job, { group: 'a' }, () => never.closed);
  await second.subscribe(Other, { group: 'b' }, () => never.closed);
  expect((await readLag(reader)).points).toEqual({ 'lag.job/a': 1, 'lag.other/b': 2 });
  await first.close({ timeoutMs: 50 });
  expect((await readLag(reader)).points).toEqual({ 'lag.other/b': 2 });
  never.open();
  await meterProvider.shutdown();
});

it('the gauge skips a bus whose lag cannot be read and reports it to onError once per outage', async () => {
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  let down = true;
  const reported: Error[] = [];
  const b = await bus({
    transport: withLag('memory://lag-outage', async () => {
      if (down) throw new Error('broker unreachable');
      return 3;
    }),
    onError: (error) => void reported.push(error),
    middleware: [openTelemetry({ meterProvider, traces: false })],
  });
  await b.subscribe(Job, { group: 'g' }, () => {});
  for (let i = 0; i < 3; i++) expect(await readLag(reader)).toEqual({ points: {}, errors: [] });
  expect(reported.map((e) => e.message)).toEqual(['broker unreachable']);
  down = false;
  expect((await readLag(reader)).points).toEqual({ 'lag.job/g': 3 });
  down = true;
  expect((await readLag(reader)).points).toEqual({});
  expect(reported.map((e) => e.message)).toEqual(['broker unreachable', 'broker unreachable']);
  await meterProvider.shutdown();
});

it('a lag read that outlasts the collection time-out is joined by the next collection, not repeated', async () => {
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  let calls = 0;
  const answer = gate();
  const b = await bus({
    transport: withLag('memory://lag-slow', async () => {
      calls++;
      await answer.closed;
      return 5;
    }),
    middleware: [openTelemetry({ meterProvider, traces: false })],
  });
  await b.subscribe(Job, { group: 'g' }, () => {});
  for (let i = 0; i < 3; i++) {
    const { resourceMetrics } = await reader.collect({ timeoutMillis: 20 });
    const lag = resourceMetrics.scopeMetrics
      .flatMap((m) => m.metrics)
      .find((m) => m.descriptor.name === METRICS.lag);
    expect(lag?.dataPoints ?? []).toEqual([]);
  }
  expect(calls).toBe(1);
  answer.open();
  await expect.poll(async () => (await readLag(reader)).points).toEqual({ 'lag.job/g': 5 });
  expect(calls).toBeLessThanOrEqual(2);
  await meterProvider.shutdown();
});

it('attach hands a middleware one view per bus: its adapter, whether it closed, its lag', async () => {
  const seen: MiddlewareBus[] = [];
  const watcher: Middleware = { name: 'watcher', attach: (view) => void seen.push(view) };
  const b = await bus({ url: 'memory://lag-attach', middleware: [{ name: 'plain' }, watcher] });
  expect(seen).toHaveLength(1);
  b.use(watcher);
  expect(seen).toHaveLength(2);
  expect(seen[1]).toBe(seen[0]);
  const view = seen[0]!;
  expect(view.transport).toBe('memory');
  await b.subscribe(Job, { group: 'g' }, () => {});
  await b.publish(Job, { n: 1 });
  expect(await view.lag()).toEqual(await b.lag());
  expect(view.closed).toBe(false);
  await b.close();
  expect(view.closed).toBe(true);
});
