import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  AdapterNotInstalledError,
  ConfigError,
  createBus,
  defineEvent,
  redactUrl,
  registerScheme,
  UnknownSchemeError,
} from '../src/index.ts';

describe('createBus configuration', () => {
  it('rejects an unparsable URL without echoing secrets', async () => {
    const error = await createBus('not a url with secret').catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).not.toContain('secret');
  });

  it('keeps the password of an unparsable URL out of the error, its causes and inspect()', async () => {
    const error = await createBus('kafka://u:hunter2@h1:notaport').catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(inspect(error, { depth: 10 })).not.toContain('hunter2');
  });

  it('names the known schemes for an unknown one', async () => {
    const error = await createBus('nats://127.0.0.1:4222').catch((e) => e);
    expect(error).toBeInstanceOf(UnknownSchemeError);
    expect(error.message).toMatch(/unknown broker scheme "nats:".*kafka:\/\//);
  });

  it('says which package to install when an adapter is missing', async () => {
    // Every adapter of this repository is installed in the workspace: a scheme mapped to a package that is not.
    registerScheme('mqtt', '@omnibus/mqtt');
    const error = await createBus('mqtt://user:hunter2@127.0.0.1:1883').catch((e) => e);
    expect(error).toBeInstanceOf(AdapterNotInstalledError);
    expect(error.message).toContain('install @omnibus/mqtt');
    expect(error.message).not.toContain('hunter2');
  });

  it('loads third-party schemes named in OMNIBUS_ADAPTERS', async () => {
    process.env.OMNIBUS_ADAPTERS = 'nats=@acme/omnibus-nats';
    try {
      const error = await createBus('nats://127.0.0.1:4222').catch((e) => e);
      expect(error).toBeInstanceOf(AdapterNotInstalledError);
      expect(error.message).toContain('install @acme/omnibus-nats');
    } finally {
      delete process.env.OMNIBUS_ADAPTERS;
    }
  });

  it('names the bad field of an options object', async () => {
    await expect(createBus({ url: 'memory://', embedWriterSchema: 'yes' } as never)).rejects.toThrow(
      /embedWriterSchema/,
    );
    const bus = await createBus('memory://config-test');
    const E = defineEvent({
      type: 'cfg.e',
      version: 1,
      avro: { type: 'record', name: 'E', fields: [] } as const,
    });
    await expect(bus.subscribe(E, { group: 'g', concurrency: 0 }, () => {})).rejects.toThrow(
      /subscribe options are invalid — concurrency/,
    );
    await expect(bus.subscribe(E, { group: 'g', maxAtempts: 3 } as never, () => {})).rejects.toThrow(
      /maxAtempts/,
    );
    await bus.close();
  });

  it('accepts host lists and redacts them', async () => {
    const { parseBrokerUrl } = await import('../src/index.ts');
    expect(parseBrokerUrl('kafka://u:pw@h1:9092,h2:9092?clientId=x').hostname).toBe('h1');
    expect(redactUrl('kafka://u:pw@h1:9092,h2:9092?sasl=plain&token=t')).toBe(
      'kafka://u:***@h1:9092,h2:9092?sasl=plain&token=***',
    );
  });

  it('redacts passwords and secret query parameters', () => {
    expect(redactUrl('amqp://guest:guest@host:5672/v?prefetch=8')).toBe(
      'amqp://guest:***@host:5672/v?prefetch=8',
    );
    expect(redactUrl('sqs://h?secretAccessKey=abc')).not.toContain('abc');
  });

  it('rejects reserved and non-string headers at publish', async () => {
    const bus = await createBus('memory://config-test-2');
    const E = defineEvent({
      type: 'cfg.e',
      version: 1,
      avro: { type: 'record', name: 'E', fields: [] } as const,
    });
    await expect(bus.publish(E, {}, { headers: { ce_id: 'x' } })).rejects.toThrow(/headers\.ce_id: reserved/);
    await expect(bus.publish(E, {}, { headers: { n: 1 as never } })).rejects.toThrow(/strings/);
    await bus.close();
    await expect(bus.publish(E, {})).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
