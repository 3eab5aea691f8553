import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { ConfigError, createBus, defineEvent, type Logger } from '../src/index.ts';

const Job = defineEvent({
  type: 'manners.job',
  version: 1,
  avro: { type: 'record', name: 'Job', fields: [{ name: 'n', type: 'int' }] } as const,
});

const CONSOLE = ['log', 'info', 'warn', 'error', 'debug'] as const;
const expectConsoleUntouched = () => {
  for (const method of CONSOLE) expect(console[method], `console.${method}`).not.toBeCalled();
};

const savedBrokerUrl = process.env.BROKER_URL;
beforeEach(() => {
  delete process.env.BROKER_URL;
  for (const method of CONSOLE) vi.spyOn(console, method);
});
afterEach(() => {
  if (savedBrokerUrl !== undefined) process.env.BROKER_URL = savedBrokerUrl;
  vi.restoreAllMocks();
});

/** Makes the consumer report an error nobody awaits: close({ timeoutMs }) gives up on a hung handler. */
async function abandonHungHandler(options: { logger?: Logger }, name: string): Promise<void> {
  const bus = await createBus({ url: `memory://${name}`, ...options });
  let started = false;
  const sub = await bus.subscribe(Job, { group: 'workers' }, async () => {
    started = true;
    await new Promise(() => {});
  });
  await bus.publish(Job, { n: 1 });
  while (!started) await new Promise((resolve) => setTimeout(resolve, 5));
  await sub.close({ timeoutMs: 20 });
  await bus.close({ timeoutMs: 20 });
}

it('createBus() with neither a URL nor BROKER_URL is a ConfigError, not a silent memory:// bus', async () => {
  const error = await createBus().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toMatch(
    /no broker URL .*memory:\/\/ for an in-process broker.*BROKER_URL/,
  );
  process.env.BROKER_URL = 'memory://manners-env';
  const bus = await createBus();
  expect(bus.transport.name).toBe('memory');
  await bus.close();
});

it('errors no caller awaits go to the logger (a real pino logger), and nothing to the console', async () => {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  await abandonHungHandler({ logger: pino(destination) }, 'manners-pino');
  expect(lines).toContainEqual(
    expect.objectContaining({
      level: 50,
      msg: expect.stringMatching(/stopped waiting after 20 ms/),
      err: expect.objectContaining({ message: expect.stringMatching(/^\[omnibus\] close\(\) stopped/) }),
    }),
  );
  expectConsoleUntouched();
});

it('without a logger the library prints nothing at all', async () => {
  await abandonHungHandler({}, 'manners-silent');
  expectConsoleUntouched();
});

it('a logger without the four methods is a ConfigError naming the option', async () => {
  await expect(createBus({ url: 'memory://', logger: { info() {} } as never })).rejects.toThrow(
    /createBus options are invalid — logger: an object with debug, info, warn and error methods/,
  );
});
