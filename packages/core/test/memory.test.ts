import { describe, expect, it } from 'vitest';
import { BrokerError, ConfigError, createBus, defineEvent } from '../src/index.ts';

const Ping = defineEvent({
  type: 'mem.ping',
  version: 1,
  avro: { type: 'record', name: 'Ping', fields: [{ name: 'n', type: 'int' }] } as const,
});

describe('memory://', () => {
  it('rejects an event no group would receive instead of dropping it silently', async () => {
    const bus = await createBus('memory://unroutable-test');
    const error = await bus.publish(Ping, { n: 1 }).catch((e) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(/no group receives topic "mem.ping".*provision/);
    await bus.provision(Ping, { groups: ['later'] });
    await expect(bus.publish(Ping, { n: 2 })).resolves.toMatchObject({ id: expect.any(String) });
    await bus.close();
  });

  it('drops them only when asked to', async () => {
    const bus = await createBus('memory://unroutable-drop?unroutable=drop');
    await expect(bus.publish(Ping, { n: 1 })).resolves.toBeDefined();
    await bus.close();
  });

  it('names a bad option', async () => {
    await expect(createBus('memory://?partitons=4')).rejects.toThrow(ConfigError);
    await expect(createBus('memory://?unroutable=maybe')).rejects.toThrow(/unroutable must be error or drop/);
  });
});
