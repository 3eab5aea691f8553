import { expect, it } from 'vitest';
import { createBus, createMemoryTransport, defineEvent, type Transport } from '../src/index.ts';

const jobSchema = { type: 'record', name: 'Job', fields: [{ name: 'n', type: 'int' }] } as const;
const Job = defineEvent({ type: 'health.job', version: 1, avro: jobSchema });

const until = async (condition: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

it('health() shows the connection, each subscription and its handlers in flight; a closed bus is down', async () => {
  const bus = await createBus('memory://health');
  expect(bus.health()).toEqual({
    healthy: true,
    transport: 'memory',
    connection: 'up',
    pendingPublishes: 0,
    subscriptions: [],
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  await bus.subscribe(Job, { group: 'g', concurrency: 1 }, () => gate);
  await bus.publish(Job, { n: 1 }, { key: 'k' });
  await bus.publish(Job, { n: 2 }, { key: 'k' });
  await until(() => bus.health().subscriptions[0]?.held === 2);
  expect(bus.health().subscriptions).toEqual([
    { topic: 'health.job', group: 'g', state: 'running', inFlight: 1, held: 2 },
  ]);
  release();
  await until(() => bus.health().subscriptions[0]?.held === 0);
  expect(bus.health().subscriptions[0]?.inFlight).toBe(0);
  await bus.close();
  expect(bus.health()).toMatchObject({ healthy: false, connection: 'down' });
});

it('an error the adapter reports for a subscription makes the bus unhealthy and names it', async () => {
  const memory = createMemoryTransport(new URL('memory://health-error')) as Transport;
  let reportError: (error: Error) => void = () => {};
  // A transport that, like a real adapter losing its consumer, reports through the request's onError —
  // and says nothing about its connection (no `health`).
  const transport: Transport = {
    name: 'flaky',
    capabilities: memory.capabilities,
    connect: () => memory.connect(),
    publish: (message) => memory.publish(message),
    provision: (topic, groups) => memory.provision(topic, groups),
    subscribe: (request) => {
      reportError = request.onError;
      return memory.subscribe(request);
    },
    close: () => memory.close(),
  };
  const bus = await createBus({ transport, onError: () => {} });
  await bus.subscribe(Job, { group: 'g' }, () => {});
  expect(bus.health()).toMatchObject({ healthy: true, connection: 'unknown' });
  reportError(new Error('consumer of health.job (group g) cannot rejoin; still trying'));
  const health = bus.health();
  expect(health.healthy).toBe(false);
  expect(health.subscriptions[0]?.lastError).toEqual({
    message: 'consumer of health.job (group g) cannot rejoin; still trying',
    at: expect.any(Date),
  });
  await bus.close();
});
