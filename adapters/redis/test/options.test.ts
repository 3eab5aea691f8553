import { inspect } from 'node:util';
import { ConfigError, createBus } from '@omnibus/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, parseRedisUrl, redactRedisUrl } from '../src/index.ts';

const SECRET = 'S3ntinel-pw';

describe('redis:// URL parsing', () => {
  it('uses the defaults for a bare URL', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ ...DEFAULT_OPTIONS });
    expect(parseRedisUrl('redis://cache').hosts).toEqual(['cache:6379']);
  });

  it('reads settings, the database from the path and credentials from the userinfo', () => {
    const o = parseRedisUrl(
      'redis://alice:p%40ss@h1:6400/3?partitions=8&maxLen=5000&prefix=shop&leaseMs=6000',
    );
    expect(o).toMatchObject({
      hosts: ['h1:6400'],
      db: 3,
      username: 'alice',
      password: 'p@ss',
      partitions: 8,
    });
    expect(o).toMatchObject({ maxLen: 5000, prefix: 'shop', leaseMs: 6000, cluster: false, tls: false });
    expect(parseRedisUrl('redis://:only-pw@h1').password).toBe('only-pw');
    expect(parseRedisUrl('redis://only-pw@h1')).toMatchObject({ password: 'only-pw', username: undefined });
  });

  it('turns TLS on for rediss:// and reads host lists (a cluster unless cluster=false)', () => {
    expect(parseRedisUrl('rediss://cache.example:6380').tls).toBe(true);
    const o = parseRedisUrl('redis://127.0.0.1:7001,127.0.0.1:7002,[::1]:7003');
    expect(o.hosts).toEqual(['127.0.0.1:7001', '127.0.0.1:7002', '[::1]:7003']);
    expect(o.cluster).toBe(true);
    expect(parseRedisUrl('redis://h1:7001?cluster=true').cluster).toBe(true);
    expect(parseRedisUrl('redis://h1:7001,h2:7002?cluster=false').cluster).toBe(false);
  });

  it('rejects typos and values that cannot work with a ConfigError that names them', () => {
    expect(() => parseRedisUrl('redis://h1?partitons=3')).toThrow(/unknown redis URL parameter "partitons"/);
    expect(() => parseRedisUrl('redis://h1?partitions=two')).toThrow(ConfigError);
    expect(() => parseRedisUrl('redis://h1?maxLen=0')).toThrow(/maxLen must be a positive number/);
    expect(() => parseRedisUrl('redis://h1?leaseMs=2000&heartbeatIntervalMs=1000')).toThrow(
      /a third of leaseMs/,
    );
    expect(() => parseRedisUrl('redis://h1:7001,h2:7002/2')).toThrow(/only database 0/);
    expect(() => parseRedisUrl('redis://h1:port')).toThrow(/unreadable host/);
    expect(() => parseRedisUrl('amqp://h1')).toThrow(/not a redis:\/\/ URL/);
  });

  it('headers: json by default, fields on request, nothing else', () => {
    expect(parseRedisUrl('redis://h1').headers).toBe('json');
    expect(parseRedisUrl('redis://h1?headers=fields').headers).toBe('fields');
    expect(() => parseRedisUrl('redis://h1?headers=binary')).toThrow(
      /headers must be json or fields, got "binary"/,
    );
  });

  it('redacts passwords, also of host lists that WHATWG URL cannot parse', () => {
    expect(redactRedisUrl(`redis://alice:${SECRET}@h1:7001,h2:7002/0?apiToken=x`)).toBe(
      'redis://alice:***@h1:7001,h2:7002/0?apiToken=***',
    );
    expect(redactRedisUrl(`rediss://${SECRET}@h1`)).toBe('rediss://***@h1');
  });

  it('never shows the password of a malformed URL: not in messages, causes or inspected errors', async () => {
    const malformed = [
      `redis://:${SECRET}@h1?partitons=3`,
      `redis://u:${SECRET}@h1:notaport`,
      `redis://:${SECRET}@h1,h2/7`,
      `redis://:${SECRET}@h1?leaseMs=abc`,
      `redis://:${encodeURIComponent(SECRET)}%zz@h1`,
      `rediss://:${SECRET}@h1?maxLen=-4`,
      `redis:/u:${SECRET}@h1:6379`,
      `redis://u:${SECRET}#x@h1`,
      `redis://u:${SECRET}?x@h1`,
      `redis://${SECRET}/x@h1`,
    ];
    for (const url of malformed) {
      const error = await createBus(url).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, url).toBeInstanceOf(ConfigError);
      expect(inspect(error, { depth: 10 }), url).not.toContain(SECRET);
      expect(String(error?.message), url).toMatch(/^\[omnibus\] /);
    }
  });
});
