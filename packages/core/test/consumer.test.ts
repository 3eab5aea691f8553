import { expect, it } from 'vitest';
import {
  createBus,
  defineEvent,
  type IdempotencyStore,
  MemoryIdempotencyStore,
  PublishBatchError,
  ValidationError,
} from '../src/index.ts';

const jobSchema = { type: 'record', name: 'Job', fields: [{ name: 'n', type: 'int' }] } as const;
const Job = defineEvent({ type: 'consumer.job', version: 1, avro: jobSchema });

const until = async (condition: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

it('an unreachable idempotency store delays the event instead of dropping it; the error is reported', async () => {
  const errors: string[] = [];
  const bus = await createBus({ url: 'memory://store-down', onError: (e) => void errors.push(e.message) });
  const inner = new MemoryIdempotencyStore();
  let failures = 2;
  const flaky: IdempotencyStore = {
    claim: async (key, leaseMs) => {
      if (failures-- > 0) throw new Error('ECONNREFUSED');
      return inner.claim(key, leaseMs);
    },
    complete: (key, ttl) => inner.complete(key, ttl),
    release: (key) => inner.release(key),
  };
  const runs: number[] = [];
  await bus.subscribe(
    Job,
    { group: 'g', idempotency: { store: flaky }, backoff: { initialDelayMs: 5 } },
    (job) => void runs.push(job.n),
  );
  await bus.publish(Job, { n: 1 });
  await until(() => runs.length === 1);
  expect(errors.filter((e) => /idempotency store claim failed .*ECONNREFUSED/.test(e))).toHaveLength(2);
  await bus.close();
});

it('publishBatch validates everything first, then reports which events were not stored', async () => {
  const bus = await createBus('memory://batch');
  await expect(
    bus.publishBatch(Job, [{ payload: { n: 1 } }, { payload: { n: 'x' as never } }]),
  ).rejects.toThrow(ValidationError);
  await bus.provision(Job, { groups: ['g'] });
  const { ids } = await bus.publishBatch(Job, [
    { payload: { n: 1 }, key: 'a' },
    { payload: { n: 2 }, key: 'a' },
  ]);
  expect(ids).toHaveLength(2);
  const seen: number[] = [];
  await bus.subscribe(Job, { group: 'g' }, (job) => void seen.push(job.n));
  await until(() => seen.length === 2);
  expect(seen).toEqual([1, 2]);
  // memory:// refuses events no group receives: each is reported, none silently lost.
  const Other = defineEvent({ type: 'consumer.job', version: 1, topic: 'nobody-listens', avro: jobSchema });
  const error = await bus.publishBatch(Other, [{ payload: { n: 3 } }]).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PublishBatchError);
  expect((error as PublishBatchError).failures[0]?.error.message).toMatch(/no group receives/);
  await bus.close();
});

it('the key counts towards maxMessageBytes, as brokers count it', async () => {
  const bus = await createBus('memory://key-size?maxMessageBytes=4000');
  await bus.provision(Job, { groups: ['g'] });
  const body = bus.encode(Job, { n: 1 });
  const headerBytes = Object.entries(body.headers).reduce((s, [k, v]) => s + k.length + v.length, 0);
  const room = 4000 - body.body.byteLength - headerBytes;
  await bus.publish(
    Job,
    { n: 1 },
    { key: 'k'.repeat(room), id: body.headers.ce_id, time: new Date(body.headers.ce_time!) },
  );
  await expect(
    bus.publish(
      Job,
      { n: 1 },
      { key: 'k'.repeat(room + 1), id: body.headers.ce_id, time: new Date(body.headers.ce_time!) },
    ),
  ).rejects.toThrow(/over the memory limit of 4000 bytes/);
  await bus.close();
});

it('bus.encode measures what encodedSize measures: multi-byte ids, times, keys and headers, at the limit', async () => {
  const { encodedSize } = await import('../src/envelope.ts');
  const probe = await createBus('memory://size-probe');
  const cases = [
    {},
    { key: 'ключ-🔑' },
    { id: 'événement-ü', headers: { 'x-région': 'Zürich ✓', plain: 'v' } },
    { time: new Date('+012345-06-07T08:09:10.011Z'), key: 'k' },
  ];
  for (const options of cases) {
    const expected = probe.encode(Job, { n: 7 }, options);
    const bytes = encodedSize(expected.body, expected.headers, expected.key);
    const fits = await createBus(`memory://size-${bytes}?maxMessageBytes=${bytes}`);
    const short = await createBus(`memory://size-${bytes - 1}?maxMessageBytes=${bytes - 1}`);
    const same = { ...options, id: expected.headers.ce_id, time: new Date(expected.headers.ce_time!) };
    expect(fits.encode(Job, { n: 7 }, same).headers).toEqual(expected.headers);
    expect(() => short.encode(Job, { n: 7 }, same)).toThrow(
      expect.objectContaining({ name: 'MessageTooLargeError', bytes }),
    );
    await Promise.all([fits.close(), short.close()]);
  }
  await probe.close();
});

it("a header grown or added after bus.encode is measured again by the transport's own limit", async () => {
  const bus = await createBus('memory://grown-header?maxMessageBytes=4000');
  await bus.provision(Job, { groups: ['g'] });
  const grown = bus.encode(Job, { n: 1 });
  grown.headers.ce_source = 's'.repeat(10_000);
  await expect(bus.transport.publish(grown)).rejects.toThrow(
    expect.objectContaining({ name: 'MessageTooLargeError' }),
  );
  const added = bus.encode(Job, { n: 1 });
  added.headers['x-extra'] = 'x'.repeat(10_000);
  await expect(bus.transport.publish(added)).rejects.toThrow(
    expect.objectContaining({ name: 'MessageTooLargeError' }),
  );
  await bus.transport.publish(bus.encode(Job, { n: 1 }));
  await bus.close();
});
