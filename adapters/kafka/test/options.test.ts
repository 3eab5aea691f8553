import { ConfigError } from '@omnibus/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, parseKafkaUrl, redactKafkaUrl } from '../src/options.ts';

describe('kafka:// URL parsing', () => {
  it('reads a comma-separated host list that WHATWG URL rejects', () => {
    const o = parseKafkaUrl('kafka://h1:9092,h2:9093,h3?clientId=svc&partitions=12&sessionTimeoutMs=6000');
    expect(o.brokers).toEqual(['h1:9092', 'h2:9093', 'h3:9092']);
    expect(o).toMatchObject({ clientId: 'svc', partitions: 12, sessionTimeoutMs: 6000 });
  });

  it('takes extra brokers from ?brokers= when the URL went through new URL() first', () => {
    const o = parseKafkaUrl(new URL('kafka://h1:9092?brokers=h2:9092,h3:9092'));
    expect(o.brokers).toEqual(['h1:9092', 'h2:9092', 'h3:9092']);
  });

  it('uses the defaults for a bare URL', () => {
    expect(parseKafkaUrl('kafka://127.0.0.1:9092')).toEqual(DEFAULT_OPTIONS);
  });

  it('turns userinfo into SASL credentials, with TLS and the chosen mechanism', () => {
    const o = parseKafkaUrl('kafka://alice:s%40cret@h1:9093?ssl=true&sasl=scram-sha-512');
    expect(o.ssl).toBe(true);
    expect(o.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'alice', password: 's@cret' });
    expect(parseKafkaUrl('kafka://bob:pw@h1:9093').sasl?.mechanism).toBe('plain');
  });

  it('takes the userinfo up to the last @, as WHATWG URL and redactUrl do, so an unencoded @ in the password never becomes a broker name', () => {
    const o = parseKafkaUrl('kafka://alice:p@ss-S3ntinel@h1:9092,h2:9092?sasl=plain');
    expect(o.brokers).toEqual(['h1:9092', 'h2:9092']);
    expect(o.sasl).toEqual({ mechanism: 'plain', username: 'alice', password: 'p@ss-S3ntinel' });
  });

  it('reads publishTimeoutMs (default 60 s) and rejects one that is not positive', () => {
    expect(DEFAULT_OPTIONS.publishTimeoutMs).toBe(60_000);
    expect(parseKafkaUrl('kafka://h1?publishTimeoutMs=90000').publishTimeoutMs).toBe(90_000);
    expect(() => parseKafkaUrl('kafka://h1?publishTimeoutMs=0')).toThrow(
      /publishTimeoutMs must be a positive/,
    );
  });

  it('selects the producer client (platformatic by default) and rejects an unknown one', () => {
    expect(DEFAULT_OPTIONS.producer).toBe('platformatic');
    expect(parseKafkaUrl('kafka://h1?producer=platformatic').producer).toBe('platformatic');
    expect(parseKafkaUrl('kafka://h1?producer=kafkajs').producer).toBe('kafkajs');
    expect(() => parseKafkaUrl('kafka://h1?producer=librdkafka')).toThrow(
      expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/producer=librdkafka/) }),
    );
    expect(() => parseKafkaUrl('kafka://h1', { producer: 'rdkafka' as 'kafkajs' })).toThrow(ConfigError);
  });

  it('rejects typos and bad values with a ConfigError that names them', () => {
    expect(() => parseKafkaUrl('kafka://h1?partitons=3')).toThrow(/unknown kafka URL parameter "partitons"/);
    expect(() => parseKafkaUrl('kafka://h1?partitions=two')).toThrow(ConfigError);
    expect(() => parseKafkaUrl('kafka://h1?sasl=kerberos')).toThrow(/sasl=kerberos is not supported/);
    expect(() => parseKafkaUrl('kafka://h1?sasl=plain')).toThrow(/no user:password@/);
    expect(() => parseKafkaUrl('kafka://h1?sessionTimeoutMs=500&heartbeatIntervalMs=1000')).toThrow(
      /heartbeatIntervalMs/,
    );
    expect(() => parseKafkaUrl('amqp://h1')).toThrow(/not a kafka:\/\/ URL/);
  });

  it('redacts the password of multi-host URLs, which core redactUrl cannot parse', () => {
    const text = redactKafkaUrl('kafka://alice:hunter2@h1:9092,h2:9092?sasl=plain&apiSecret=xyz');
    expect(text).toBe('kafka://alice:***@h1:9092,h2:9092?sasl=plain&apiSecret=***');
    expect(() => parseKafkaUrl('kafka://alice:hunter2@h1?bogus=1')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});
