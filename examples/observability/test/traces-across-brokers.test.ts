import { randomBytes } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import { type Bus, createAdmin, createBus, defineEvent, registerScheme } from '@omnibus/core';
import { openTelemetry } from '@omnibus/core/opentelemetry';
import * as kafka from '@omnibus/kafka';
import * as rabbitmq from '@omnibus/rabbitmq';
import * as redis from '@omnibus/redis';
import * as sqs from '@omnibus/sqs';
import { context, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Registered explicitly: the core cannot resolve the adapter packages from its own directory.
registerScheme('kafka', kafka);
registerScheme('amqp', rabbitmq);
registerScheme('redis', redis);
registerScheme('sqs', sqs);

const spans = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => context.disable());

const TARGETS = [
  { name: 'memory', url: 'memory://traces', system: 'memory' },
  { name: 'kafka', url: brokerUrl('kafka'), system: 'kafka' },
  { name: 'amqp', url: brokerUrl('amqp'), system: 'rabbitmq' },
  { name: 'redis', url: brokerUrl('redis'), system: 'redis' },
  { name: 'sqs', url: brokerUrl('sqs'), system: 'aws_sqs' },
];

const record = { type: 'record', name: 'Step', fields: [{ name: 'orderId', type: 'string' }] } as const;

for (const target of TARGETS) {
  describe.skipIf(!target.url)(`traces on ${target.name}`, () => {
    const url = target.url!;
    const suffix = randomBytes(4).toString('hex');
    const Order = defineEvent({
      type: 'otel.order',
      version: 1,
      topic: `otel-order-${suffix}`,
      avro: record,
    });
    const Payment = defineEvent({
      type: 'otel.payment',
      version: 1,
      topic: `otel-payment-${suffix}`,
      avro: record,
    });
    const buses: Bus[] = [];

    afterAll(async () => {
      await Promise.allSettled(buses.map((bus) => bus.close()));
      const admin = await createAdmin(url);
      for (const [topic, group] of [
        [Order.topic, 'payments'],
        [Payment.topic, 'ledger'],
      ] as const) {
        await admin.deleteTopic(topic, [group]);
        await admin.deleteTopic(`${topic}.dlq`, ['dead-letters']);
      }
      await admin.close();
    });

    it('one trace spans the publish, its handler in another service, the handler’s publish and that event’s handler', async () => {
      const open = async () => {
        const bus = await createBus({ url, middleware: [openTelemetry({ tracerProvider })] });
        buses.push(bus);
        return bus;
      };
      const shop = await open();
      const payments = await open();
      await payments.subscribe(Order, { group: 'payments' }, async (order) => {
        await payments.publish(Payment, { orderId: order.orderId }, { key: order.orderId });
      });
      await shop.subscribe(Payment, { group: 'ledger' }, () => {});
      const orderId = `o-${suffix}`;
      await shop.publish(Order, { orderId }, { key: orderId });

      const ours = () =>
        spans
          .getFinishedSpans()
          .filter((s) => String(s.attributes['messaging.destination.name']).endsWith(suffix));
      const deadline = Date.now() + 45_000;
      while (ours().length < 4 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const byName = new Map(ours().map((s) => [s.name, s]));
      const sendOrder = byName.get(`send ${Order.topic}`);
      const processOrder = byName.get(`process ${Order.topic}`);
      const sendPayment = byName.get(`send ${Payment.topic}`);
      const processPayment = byName.get(`process ${Payment.topic}`);
      expect([sendOrder, processOrder, sendPayment, processPayment].map((s) => s?.name)).toEqual([
        `send ${Order.topic}`,
        `process ${Order.topic}`,
        `send ${Payment.topic}`,
        `process ${Payment.topic}`,
      ]);
      expect(ours()).toHaveLength(4);

      const chain = [sendOrder!, processOrder!, sendPayment!, processPayment!];
      expect(new Set(chain.map((s) => s.spanContext().traceId)).size).toBe(1);
      expect(sendOrder!.parentSpanContext).toBeUndefined();
      for (let i = 1; i < chain.length; i++) {
        expect(chain[i]!.parentSpanContext?.spanId, chain[i]!.name).toBe(chain[i - 1]!.spanContext().spanId);
      }
      for (const [consumer, producer] of [
        [processOrder!, sendOrder!],
        [processPayment!, sendPayment!],
      ] as const) {
        expect(consumer.kind).toBe(SpanKind.CONSUMER);
        expect(producer.kind).toBe(SpanKind.PRODUCER);
        expect(consumer.links.map((l) => l.context.spanId)).toEqual([producer.spanContext().spanId]);
        expect(consumer.attributes['messaging.message.id']).toBe(producer.attributes['messaging.message.id']);
        expect(consumer.attributes).toMatchObject({
          'messaging.system': target.system,
          'omnibus.outcome': 'ack',
          'omnibus.attempt': 1,
        });
      }
      expect(processOrder!.attributes['messaging.consumer.group.name']).toBe('payments');
      expect(processPayment!.attributes['messaging.consumer.group.name']).toBe('ledger');
    });
  });
}
