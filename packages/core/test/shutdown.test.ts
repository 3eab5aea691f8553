import { EventEmitter } from 'node:events';
import { expect, it } from 'vitest';
import {
  createBus,
  createMemoryTransport,
  defineEvent,
  type OutgoingMessage,
  PublishBackpressureError,
  type Transport,
  UnconfirmedPublishError,
} from '../src/index.ts';

const Job = defineEvent({
  type: 'shutdown.job',
  version: 1,
  avro: { type: 'record', name: 'Job', fields: [{ name: 'n', type: 'int' }] } as const,
});

/** memory://, except that publishes are confirmed only when the test says so, and close can hang. */
function heldTransport(name: string, hangOnClose = false) {
  const inner = createMemoryTransport(new URL(`memory://${name}`));
  const confirm: (() => void)[] = [];
  const transport: Transport = {
    name: inner.name,
    capabilities: inner.capabilities,
    connect: () => inner.connect(),
    provision: (topic, groups) => inner.provision(topic, groups),
    subscribe: (request) => inner.subscribe(request),
    publish: (message: OutgoingMessage) =>
      new Promise<void>((resolve, reject) =>
        confirm.push(() => inner.publish(message).then(resolve, reject)),
      ),
    close: () => (hangOnClose ? new Promise<void>(() => {}) : inner.close()),
  };
  return { transport, confirmOne: () => confirm.shift()?.(), waiting: () => confirm.length };
}

it('close({ timeoutMs }) bounds the whole close: unconfirmed publishes reject with a typed error', async () => {
  const held = heldTransport('close-bound', true);
  const errors: string[] = [];
  const bus = await createBus({ transport: held.transport, onError: (e) => void errors.push(e.message) });
  await bus.provision(Job, { groups: ['g'] });
  const publishing = bus.publish(Job, { n: 1 }).catch((error: unknown) => error);
  const began = Date.now();
  await bus.close({ timeoutMs: 200 });
  expect(Date.now() - began).toBeLessThan(2_000);
  expect(await publishing).toBeInstanceOf(UnconfirmedPublishError);
  expect(errors.join()).toMatch(/stopped waiting after 200 ms .* 1 unconfirmed publish\(es\) rejected/);
});

it('maxPendingPublishes: publish waits for room, or rejects with onPublishBackpressure: reject', async () => {
  const held = heldTransport('backpressure');
  const bus = await createBus({ transport: held.transport, maxPendingPublishes: 3 });
  await bus.provision(Job, { groups: ['g'] });
  const first = [1, 2, 3].map((n) => bus.publish(Job, { n }));
  let fourthDone = false;
  const fourth = bus.publish(Job, { n: 4 }).then(() => {
    fourthDone = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(held.waiting()).toBe(3); // the fourth was not handed to the transport
  held.confirmOne();
  await first[0];
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(held.waiting()).toBe(3); // now it was
  expect(fourthDone).toBe(false);
  while (held.waiting() > 0) held.confirmOne();
  await Promise.all([...first, fourth]);

  const strict = await createBus({
    transport: heldTransport('backpressure-reject').transport,
    maxPendingPublishes: 1,
    onPublishBackpressure: 'reject',
  });
  await strict.provision(Job, { groups: ['g'] });
  void strict.publish(Job, { n: 1 });
  await expect(strict.publish(Job, { n: 2 })).rejects.toBeInstanceOf(PublishBackpressureError);
});

it('closeOnSignals: a SIGTERM lets the running handler finish, closes, then reports; a second one exits at once', async () => {
  const source = new EventEmitter() as unknown as NodeJS.Process;
  const bus = await createBus('memory://signals');
  const order: string[] = [];
  await bus.subscribe(Job, { group: 'g' }, async () => {
    order.push('handler started');
    await new Promise((resolve) => setTimeout(resolve, 100));
    order.push('handler finished');
  });
  const closed = new Promise<unknown>((resolve) =>
    bus.closeOnSignals({ source, timeoutMs: 5_000, onClosed: (error) => resolve(error ?? 'clean') }),
  );
  await bus.publish(Job, { n: 1 });
  while (order.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  (source as unknown as EventEmitter).emit('SIGTERM');
  expect(await closed).toBe('clean');
  expect(order).toEqual(['handler started', 'handler finished']);
  await expect(bus.publish(Job, { n: 2 })).rejects.toMatchObject({ code: 'CLOSED' });

  const second = new EventEmitter() as unknown as NodeJS.Process;
  const stuck = await createBus('memory://signals-stuck');
  await stuck.subscribe(Job, { group: 'g' }, () => new Promise(() => {}));
  const outcome = new Promise<unknown>((resolve) =>
    stuck.closeOnSignals({ source: second, onClosed: (error) => resolve(error) }),
  );
  await stuck.publish(Job, { n: 1 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  (second as unknown as EventEmitter).emit('SIGTERM');
  (second as unknown as EventEmitter).emit('SIGTERM');
  expect(String(await outcome)).toMatch(/second signal/);
});

it('close({ timeoutMs }) bounds a consumer that is slow to let go of the broker (e.g. an open long poll)', async () => {
  const inner = createMemoryTransport(new URL('memory://slow-let-go'));
  const transport: Transport = {
    ...inner,
    name: inner.name,
    capabilities: inner.capabilities,
    connect: () => inner.connect(),
    provision: (topic, groups) => inner.provision(topic, groups),
    publish: (message: OutgoingMessage) => inner.publish(message),
    close: () => inner.close(),
    subscribe: async (request) => {
      const sub = await inner.subscribe(request);
      return { stop: () => sub.stop(), close: () => new Promise<void>(() => {}) };
    },
  };
  const errors: string[] = [];
  const bus = await createBus({ transport, onError: (e) => void errors.push(e.message) });
  await bus.subscribe(Job, { group: 'g' }, async () => {});
  const began = Date.now();
  await bus.close({ timeoutMs: 300 });
  expect(Date.now() - began).toBeLessThan(2_000);
  expect(errors.join()).toMatch(/stopped waiting after 300 ms for the consumer of shutdown\.job to let go/);
});
