import { expect, it } from 'vitest';
import {
  createBus,
  defineEvent,
  type HandleContext,
  type Middleware,
  PublishBatchError,
} from '../src/index.ts';

const jobSchema = { type: 'record', name: 'Job', fields: [{ name: 'n', type: 'int' }] } as const;
const Job = defineEvent({ type: 'middleware.job', version: 1, avro: jobSchema });

const until = async (condition: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** Records what each hook saw, in the order the hooks ran. */
function recorder(name: string, log: string[], seen: HandleContext[] = []): Middleware {
  return {
    name,
    async publish(context, next) {
      log.push(`${name}:publish:${context.topic}`);
      context.headers[`x-${name}`] = context.id;
      await next();
      log.push(`${name}:published`);
    },
    async handle(context, next) {
      log.push(`${name}:handle`);
      try {
        await next();
      } finally {
        log.push(`${name}:${context.outcome}`);
        if (name === 'outer') seen.push({ ...context });
      }
    },
  };
}

it('publish middleware adds headers the handler receives; the first registered runs outermost', async () => {
  const log: string[] = [];
  const bus = await createBus({ url: 'memory://mw-order', middleware: [recorder('outer', log)] });
  bus.use(recorder('inner', log));
  const received: Record<string, string>[] = [];
  await bus.subscribe(Job, { group: 'g' }, (_job, context) => {
    log.push('handler');
    received.push(context.headers);
  });
  const { id } = await bus.publish(Job, { n: 1 });
  await until(() => log.includes('outer:ack'));
  expect(received).toEqual([{ 'x-outer': id, 'x-inner': id }]);
  expect(log).toEqual([
    'outer:publish:middleware.job',
    'inner:publish:middleware.job',
    'inner:published',
    'outer:published',
    'outer:handle',
    'inner:handle',
    'handler',
    'inner:ack',
    'outer:ack',
  ]);
  await bus.close();
});

it('handle middleware sees each attempt and its outcome: retry, then dead-letter; ack; duplicate-skipped', async () => {
  const seen: HandleContext[] = [];
  const bus = await createBus({ url: 'memory://mw-outcomes', middleware: [recorder('outer', [], seen)] });
  await bus.subscribe(
    Job,
    { group: 'g', maxAttempts: 3, backoff: { initialDelayMs: 1 }, idempotency: { store: 'memory' } },
    (job) => {
      if (job.n === 13) throw new Error('unlucky');
    },
  );
  await bus.publish(Job, { n: 13 }, { id: 'poison', key: 'k' });
  await bus.publish(Job, { n: 1 }, { id: 'fine', key: 'k' });
  await bus.publish(Job, { n: 1 }, { id: 'fine', key: 'k' });
  await until(() => seen.length === 5);
  expect(
    seen.map(({ id, attempt, outcome, error, group, topic }) => ({
      id,
      attempt,
      outcome,
      error: (error as Error | undefined)?.message,
      group,
      topic,
    })),
  ).toEqual([
    { id: 'poison', attempt: 1, outcome: 'retry', error: 'unlucky', group: 'g', topic: 'middleware.job' },
    { id: 'poison', attempt: 2, outcome: 'retry', error: 'unlucky', group: 'g', topic: 'middleware.job' },
    {
      id: 'poison',
      attempt: 3,
      outcome: 'dead-letter',
      error: 'unlucky',
      group: 'g',
      topic: 'middleware.job',
    },
    { id: 'fine', attempt: 1, outcome: 'ack', error: undefined, group: 'g', topic: 'middleware.job' },
    {
      id: 'fine',
      attempt: 1,
      outcome: 'duplicate-skipped',
      error: undefined,
      group: 'g',
      topic: 'middleware.job',
    },
  ]);
  expect(seen[0]!.key).toBe('k');
  expect(seen[0]!.transport).toBe('memory');
  await bus.close();
});

it('a handle middleware that throws after a successful run fails it, and the outer layers see retry', async () => {
  const seen: HandleContext[] = [];
  let runs = 0;
  const bus = await createBus({
    url: 'memory://mw-throw',
    middleware: [
      recorder('outer', [], seen),
      {
        async handle(context, next) {
          await next();
          if (context.attempt === 1) throw new Error('audit log unreachable');
        },
      },
    ],
  });
  await bus.subscribe(Job, { group: 'g', backoff: { initialDelayMs: 1 } }, () => void runs++);
  await bus.publish(Job, { n: 1 });
  await until(() => seen.length === 2);
  expect(seen.map((c) => c.outcome)).toEqual(['retry', 'ack']);
  expect(runs).toBe(2);
  await bus.close();
});

it('a publish middleware that throws sends nothing; in a batch, it holds back that event and the rest of its key', async () => {
  const refuse: Middleware = {
    async publish(context, next) {
      if (context.headers.tenant === 'blocked') throw new Error('tenant blocked');
      context.headers['x-checked'] = 'yes';
      await next();
    },
  };
  const bus = await createBus({ url: 'memory://mw-refuse', middleware: [refuse] });
  await bus.provision(Job, { groups: ['g'] });
  await expect(bus.publish(Job, { n: 0 }, { headers: { tenant: 'blocked' } })).rejects.toThrow(
    'tenant blocked',
  );
  const error = await bus
    .publishBatch(Job, [
      { payload: { n: 1 }, key: 'a' },
      { payload: { n: 2 }, key: 'b', headers: { tenant: 'blocked' } },
      { payload: { n: 3 }, key: 'b' },
      { payload: { n: 4 }, key: 'a' },
    ])
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PublishBatchError);
  const batchError = error as PublishBatchError;
  expect(batchError.failures.map((f) => [f.index, f.error.message])).toEqual([
    [1, 'tenant blocked'],
    [2, expect.stringContaining('an earlier event of key "b"')],
  ]);
  const received: [number, string | undefined][] = [];
  await bus.subscribe(Job, { group: 'g' }, (job, context) => {
    received.push([job.n, context.headers['x-checked']]);
  });
  await until(() => received.length === 2);
  await new Promise((resolve) => setTimeout(resolve, 50)); // nothing else may arrive
  expect(received).toEqual([
    [1, 'yes'],
    [4, 'yes'],
  ]);
  await bus.close();
});

it('a middleware whose enabled() answers false is left out of that event; the others still run', async () => {
  const log: string[] = [];
  let on = false;
  const gated: Middleware = { ...recorder('gated', log), enabled: () => on };
  const bus = await createBus({ url: 'memory://mw-enabled', middleware: [gated, recorder('inner', log)] });
  const headers: Record<string, string>[] = [];
  await bus.subscribe(Job, { group: 'g' }, (_job, context) => {
    log.push('handler');
    headers.push(context.headers);
  });
  const first = await bus.publish(Job, { n: 1 });
  await until(() => log.includes('inner:ack'));
  expect(log).toEqual([
    'inner:publish:middleware.job',
    'inner:published',
    'inner:handle',
    'handler',
    'inner:ack',
  ]);
  expect(headers[0]).toMatchObject({ 'x-inner': first.id });
  expect(headers[0]).not.toHaveProperty('x-gated');

  log.length = 0;
  on = true; // asked per event: switching on takes effect from the next one
  const second = await bus.publish(Job, { n: 2 });
  await until(() => log.includes('gated:ack'));
  expect(log).toEqual([
    'gated:publish:middleware.job',
    'inner:publish:middleware.job',
    'inner:published',
    'gated:published',
    'gated:handle',
    'inner:handle',
    'handler',
    'inner:ack',
    'gated:ack',
  ]);
  expect(headers[1]).toMatchObject({ 'x-gated': second.id, 'x-inner': second.id });
  await bus.close();
});

it('with every middleware disabled, publish, publishBatch and handler runs go straight through', async () => {
  let contexts = 0;
  const off: Middleware = {
    enabled: () => false,
    publish: async (_context, next) => {
      contexts++;
      await next();
    },
    handle: async (_context, next) => {
      contexts++;
      await next();
    },
  };
  const bus = await createBus({ url: 'memory://mw-disabled', middleware: [off] });
  const received: number[] = [];
  await bus.subscribe(Job, { group: 'g' }, (job) => void received.push(job.n));
  await bus.publish(Job, { n: 1 });
  await bus.publishBatch(Job, [{ payload: { n: 2 } }, { payload: { n: 3 } }]);
  await until(() => received.length === 3);
  expect(received.sort()).toEqual([1, 2, 3]);
  expect(contexts).toBe(0);
  await bus.close();
});
