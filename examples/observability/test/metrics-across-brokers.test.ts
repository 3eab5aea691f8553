import { randomBytes } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import { type Bus, createAdmin, createBus, defineEvent, registerScheme } from '@omnibus/core';
import { METRICS, openTelemetry } from '@omnibus/core/opentelemetry';
import * as kafka from '@omnibus/kafka';
import * as rabbitmq from '@omnibus/rabbitmq';
import * as redis from '@omnibus/redis';
import * as sqs from '@omnibus/sqs';
import { type DataPoint, type Histogram, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, describe, expect, it } from 'vitest';

// Registered explicitly: the core cannot resolve the adapter packages from its own directory.
registerScheme('kafka', kafka);
registerScheme('amqp', rabbitmq);
registerScheme('redis', redis);
registerScheme('sqs', sqs);

/** A pull reader: metrics are read when the test asks (`collect()`), as a Prometheus scrape would. */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const TARGETS = [
  { name: 'memory', url: 'memory://metrics', system: 'memory' },
  { name: 'kafka', url: brokerUrl('kafka'), system: 'kafka' },
  { name: 'amqp', url: brokerUrl('amqp'), system: 'rabbitmq' },
  { name: 'redis', url: brokerUrl('redis'), system: 'redis' },
  { name: 'sqs', url: brokerUrl('sqs'), system: 'aws_sqs' },
];

const record = { type: 'record', name: 'Tick', fields: [{ name: 'n', type: 'int' }] } as const;
const GROUP = 'metrics';

for (const target of TARGETS) {
  describe.skipIf(!target.url)(`metrics on ${target.name}`, () => {
    const url = target.url!;
    const suffix = randomBytes(4).toString('hex');
    const topic = `otel-metrics-${suffix}`;
    const Tick = defineEvent({ type: 'otel.tick', version: 1, topic, avro: record });
    const reader = new PullReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    let bus: Bus | undefined;

    afterAll(async () => {
      await bus?.close();
      await meterProvider.shutdown();
      const admin = await createAdmin(url);
      await admin.deleteTopic(topic, [GROUP]);
      await admin.deleteTopic(`${topic}.dlq`, ['dead-letters']);
      await admin.close();
    });

    /** One collection; `points(name)` gives that metric's data points for this test's topic. */
    const collect = async () => {
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      return (name: string): DataPoint<unknown>[] =>
        (metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? []).filter(
          (p) => p.attributes['messaging.destination.name'] === topic,
        );
    };

    it('counts publishes and handler runs by outcome (ack, retry, dead-letter, duplicate-skipped), times them, and reads the lag', async () => {
      bus = await createBus({ url, middleware: [openTelemetry({ meterProvider, traces: false })] });
      await bus.subscribe(
        Tick,
        { group: GROUP, maxAttempts: 2, backoff: { initialDelayMs: 1 }, idempotency: { store: 'memory' } },
        (tick) => {
          if (tick.n === 13) throw new TypeError('unlucky');
        },
      );
      let points = await collect();
      const runs = () => points(METRICS.consumed).reduce((sum, p) => sum + (p.value as number), 0);
      // One deadline for every wait: when a run is not counted, the assertions below say which.
      const deadline = Date.now() + 45_000;
      const runsReach = async (count: number) => {
        while (runs() < count && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          points = await collect();
        }
      };
      await bus.publish(Tick, { n: 13 }, { key: 'bad' }); // retried once, then dead-lettered
      await bus.publish(Tick, { n: 1 }, { key: 'k', id: `once-${suffix}` }); // acked
      await runsReach(3);
      // The same event id again, once the first was acked: the idempotency store skips it. Under another key,
      // as another producer re-publishing would: SQS FIFO itself drops a second (key, id) within 5 minutes.
      await bus.publish(Tick, { n: 1 }, { key: 'k2', id: `once-${suffix}` });
      await runsReach(4);

      const consumed = points(METRICS.consumed);
      expect(Object.fromEntries(consumed.map((p) => [p.attributes['omnibus.outcome'], p.value]))).toEqual({
        ack: 1,
        retry: 1,
        'dead-letter': 1,
        'duplicate-skipped': 1,
      });
      for (const p of consumed) {
        expect(p.attributes).toMatchObject({
          'messaging.system': target.system,
          'messaging.consumer.group.name': GROUP,
          'messaging.operation.type': 'process',
        });
        const failed =
          p.attributes['omnibus.outcome'] === 'retry' || p.attributes['omnibus.outcome'] === 'dead-letter';
        expect(p.attributes['error.type']).toBe(failed ? 'TypeError' : undefined);
      }

      const sent = points(METRICS.sent);
      expect(
        sent.map((p) => [p.attributes['messaging.system'], p.attributes['error.type'], p.value]),
      ).toEqual([[target.system, undefined, 3]]);

      const counts = (name: string) =>
        points(name).map((p) => [p.attributes['omnibus.outcome'], (p.value as Histogram).count]);
      expect(counts(METRICS.processDuration)).toEqual(
        expect.arrayContaining([
          ['ack', 1],
          ['retry', 1],
          ['dead-letter', 1],
          ['duplicate-skipped', 1],
        ]),
      );
      for (const p of points(METRICS.processDuration)) {
        expect(p.attributes['messaging.consumer.group.name']).toBe(GROUP);
        expect((p.value as Histogram).sum).toBeGreaterThanOrEqual(0);
      }
      expect(counts(METRICS.sendDuration)).toEqual([[undefined, 3]]);
      expect(
        points(METRICS.active).map((p) => [p.attributes['messaging.consumer.group.name'], p.value]),
      ).toEqual([[GROUP, 0]]);

      // The lag gauge asks the broker at each collection: a number for (topic, group), 0 once the acks landed
      // (Kafka commits them every commitIntervalMs; SQS's counts are approximate and trail the deletes).
      const lag = () =>
        points(METRICS.lag)
          .filter((p) => p.attributes['messaging.consumer.group.name'] === GROUP)
          .map((p) => p.value);
      for (const lagDeadline = Date.now() + 30_000; lag()[0] !== 0 && Date.now() < lagDeadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        points = await collect();
      }
      expect(lag()).toEqual([0]);
    }, 120_000);
  });
}
