import { randomBytes } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import { createAdmin, createBus, defineEvent, registerScheme } from '@omnibus/core';
import * as kafka from '@omnibus/kafka';
import * as rabbitmq from '@omnibus/rabbitmq';
import * as redis from '@omnibus/redis';
import * as sqs from '@omnibus/sqs';
import { describe, expect, it } from 'vitest';

registerScheme('kafka', kafka);
registerScheme('amqp', rabbitmq);
registerScheme('redis', redis);
registerScheme('sqs', sqs);

/** Every adapter reports its connection: `up` on each broker (Redis adds ioredis's own word for it). */
const TARGETS = [
  { name: 'memory', url: 'memory://health', connection: 'up', detail: undefined },
  { name: 'redis', url: brokerUrl('redis'), connection: 'up', detail: 'ready' },
  { name: 'amqp', url: brokerUrl('amqp'), connection: 'up', detail: undefined },
  { name: 'kafka', url: brokerUrl('kafka'), connection: 'up', detail: undefined },
  { name: 'sqs', url: brokerUrl('sqs'), connection: 'up', detail: undefined },
];

const record = { type: 'record', name: 'Beat', fields: [{ name: 'n', type: 'int' }] } as const;

for (const target of TARGETS) {
  describe.skipIf(!target.url)(`health on ${target.name}`, () => {
    it('reports the connection and a subscription with its handler in flight, and down once closed', async () => {
      const url = target.url!;
      const topic = `health-${randomBytes(4).toString('hex')}`;
      const Beat = defineEvent({ type: 'health.beat', version: 1, topic, avro: record });
      const bus = await createBus(url);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      try {
        let started = false;
        await bus.subscribe(Beat, { group: 'monitor' }, async () => {
          started = true;
          await gate;
        });
        await bus.publish(Beat, { n: 1 });
        for (const deadline = Date.now() + 45_000; !started && Date.now() < deadline; ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const health = bus.health();
        expect(health).toMatchObject({ healthy: true, connection: target.connection, pendingPublishes: 0 });
        expect(health.detail).toBe(target.detail);
        expect(health.subscriptions).toEqual([
          { topic, group: 'monitor', state: 'running', inFlight: 1, held: 1 },
        ]);
      } finally {
        release(); // also when an expectation failed: close() waits for the held handler
        await bus.close();
      }
      expect(bus.health()).toMatchObject({ healthy: false, connection: 'down' });
      const admin = await createAdmin(url);
      await admin.deleteTopic(topic, ['monitor']);
      await admin.deleteTopic(`${topic}.dlq`, ['dead-letters']);
      await admin.close();
    });
  });
}
