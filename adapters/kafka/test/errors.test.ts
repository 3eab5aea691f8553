import { inspect } from 'node:util';
import { kafkaBrokers } from '@omnibus/brokers-dev';
import { BrokerError } from '@omnibus/core';
import { describe, expect, it } from 'vitest';
import { createKafkaTransport } from '../src/index.ts';
import { KAFKA_URL } from './helpers.ts';

const SECRET = 'S3ntinel-pw';

/** The test broker's listener speaks PLAINTEXT: no credentials, TLS or SASL in its URL. */
const PLAINTEXT = KAFKA_URL !== undefined && !/@|[?&](ssl|sasl)=/.test(KAFKA_URL);

/** Everything a user or log could see of an error: message, causes, stacks and what util.inspect prints. */
function visible(error: unknown): string {
  return `${(error as Error)?.message} ${(error as Error)?.stack} ${inspect(error, { depth: 10 })}`;
}

describe.skipIf(!PLAINTEXT)('kafka: a listener that does not speak what the URL asks for', () => {
  const hosts = kafkaBrokers(KAFKA_URL ?? '').join(',');

  it('SASL towards a PLAINTEXT listener says the listener takes no SASL, fast, without the password', async () => {
    const logged: string[] = [];
    const record = (level: string) => (fields: Record<string, unknown>, message: string) =>
      void logged.push(`${level} ${message} ${JSON.stringify(fields)}`);
    const logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    const transport = createKafkaTransport(`kafka://user:${SECRET}@${hosts}?sasl=plain`, {}, { logger });
    const started = Date.now();
    const error = await transport.connect().then(
      () => new Error('connecting with SASL to a PLAINTEXT listener unexpectedly succeeded'),
      (e: unknown) => e as Error,
    );
    const ms = Date.now() - started;
    await transport.close();
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(/^\[omnibus\] \[kafka\] /);
    expect(error.message).toMatch(/does not accept SASL/);
    expect(error.message).toMatch(/check the listener and protocol/);
    expect(error.message).toMatch(/ILLEGAL_SASL_STATE/);
    expect(error.message).not.toContain('Request is not valid given the current SASL state');
    expect(visible(error)).not.toContain(SECRET);
    expect(logged.join('\n')).not.toContain(SECRET);
    expect(ms).toBeLessThan(5_000);
  });

  it('TLS towards a PLAINTEXT listener says the listener does not speak TLS, not "is the broker running?"', async () => {
    const transport = createKafkaTransport(`kafka://user:${SECRET}@${hosts}?sasl=plain&ssl=true`);
    const error = await transport.connect().then(
      () => new Error('connecting with TLS to a PLAINTEXT listener unexpectedly succeeded'),
      (e: unknown) => e as Error,
    );
    await transport.close();
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(
      /^\[omnibus\] \[kafka\] no TLS handshake with .* the URL has ssl=true but the listener there does not speak TLS/,
    );
    expect(error.message).toMatch(/check the listener and protocol/);
    expect(error.message).not.toContain('is the broker running');
    expect(visible(error)).not.toContain(SECRET);
  });
});

/**
 * A SASL listener is not part of the test brokers: point KAFKA_SASL_URL at one (a single host) with working
 * credentials, `kafka://alice:alice-pw@127.0.0.1:19092?sasl=plain`, to run these.
 */
const SASL_URL = process.env.KAFKA_SASL_URL;

describe.skipIf(!SASL_URL)('kafka: a SASL listener (KAFKA_SASL_URL)', () => {
  const plain = new URL(SASL_URL ?? 'kafka://unused');
  const hosts = plain.host;
  const mechanism = plain.searchParams.get('sasl') ?? 'plain';

  it('no SASL towards it says the listener closed the connection and to check sasl=, not "is the broker running?"', async () => {
    const transport = createKafkaTransport(`kafka://${hosts}`);
    const error = await transport.connect().then(
      () => new Error('connecting without SASL to a SASL listener unexpectedly succeeded'),
      (e: unknown) => e as Error,
    );
    await transport.close();
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(/closed the connection/);
    expect(error.message).toMatch(/check the listener and protocol/);
    expect(error.message).toMatch(/needs user:password@ and sasl=/);
    expect(error.message).not.toContain('is the broker running');
  });

  it('a wrong password is a refused login, without the password', async () => {
    const transport = createKafkaTransport(`kafka://${plain.username}:${SECRET}@${hosts}?sasl=${mechanism}`);
    const error = await transport.connect().then(
      () => new Error('a wrong password unexpectedly logged in'),
      (e: unknown) => e as Error,
    );
    await transport.close();
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(/refused the SASL login of/);
    expect(visible(error)).not.toContain(SECRET);
  });

  it('the right credentials connect', async () => {
    const transport = createKafkaTransport(SASL_URL!);
    await transport.connect();
    await transport.close();
  });
});
