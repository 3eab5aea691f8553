// A plain-JavaScript service, as a user writes it after `npm install @omnibus/core @omnibus/<adapter> zod`:
// defines an Avro event, provisions, subscribes, publishes, receives it, and gets a ValidationError for
// a bad payload. Run by scripts/packaging/consumer.ts outside the workspace, with BROKER_URL set; prints
// one JSON line. A library has manners: nothing else may appear on stdout or stderr.
import { randomUUID } from 'node:crypto';
import { createAdmin, createBus, defineEvent, ValidationError } from '@omnibus/core';
import { z } from 'zod';

const run = randomUUID().slice(0, 8);
const OrderPlaced = defineEvent({
  type: 'consumer.order.placed',
  version: 1,
  topic: `omnibus-consumer-check-${run}`, // fresh per run: a long-lived broker may hold earlier ones
  avro: {
    type: 'record',
    name: 'OrderPlaced',
    fields: [
      { name: 'orderId', type: 'string' },
      { name: 'totalCents', type: 'long' },
    ],
  },
});
// A zod contract too: zod is the service's own dependency (a peer of @omnibus/core).
const PaymentCaptured = defineEvent({
  type: 'consumer.payment.captured',
  version: 1,
  zod: z.object({ orderId: z.string(), amountCents: z.number().int() }),
});

let bus;
try {
  bus = await createBus(process.env.BROKER_URL);
} catch (error) {
  if (error.code !== 'ADAPTER_NOT_INSTALLED') throw error;
  console.log(JSON.stringify({ adapterMissing: error.packageName }));
  process.exit(3);
}
await bus.provision(OrderPlaced, { groups: ['billing'] });
const received = new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error('no event within 60 s')), 60_000).unref();
  bus.subscribe(OrderPlaced, { group: 'billing' }, (event) => resolve(event)).catch(reject);
});
await bus.publish(OrderPlaced, { orderId: run, totalCents: 1299 }, { key: run });
const event = await received;
const invalid = await bus.publish(OrderPlaced, { orderId: run, totalCents: 'lots' }).then(
  () => undefined,
  (error) => error,
);
await bus.close();

// Tidy up the broker through the admin operations, after the bus closed: Kafka must not see a topic deleted under a live consumer.
const admin = await createAdmin(process.env.BROKER_URL);
await admin.deleteTopic(OrderPlaced.topic, ['billing']);
await admin.deleteTopic(`${OrderPlaced.topic}.dlq`, ['dead-letters']);
await admin.close();

const ok = event.orderId === run && invalid instanceof ValidationError && PaymentCaptured.version === 1;
console.log(JSON.stringify({ ok, event, invalid: invalid?.message ?? 'publish accepted a bad payload' }));
process.exit(ok ? 0 : 1);
