// URL handling of the broker discovery (no broker needed).
import { describe, expect, it } from 'vitest';
import { requiredBrokers } from '../src/global-setup.ts';
import { BROKER_KINDS, parseBrokerKind, redactUrl, redisTarget } from '../src/urls.ts';

describe('redisTarget', () => {
  it('reads the cluster URL that brokers:up writes: three seeds and the cluster flag', () => {
    expect(redisTarget('redis://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003?cluster=true')).toEqual({
      nodes: [
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
        { host: '127.0.0.1', port: 7003 },
      ],
      cluster: true,
    });
  });

  it('reads one node, default port, credentials and ignores the db path', () => {
    expect(redisTarget('redis://app:p%40ss@cache.internal/2')).toEqual({
      nodes: [{ host: 'cache.internal', port: 6379 }],
      username: 'app',
      password: 'p@ss',
      cluster: false,
    });
    expect(redisTarget('redis://:secret@[::1]:6380').nodes).toEqual([{ host: '::1', port: 6380 }]);
  });

  it('rejects a bad port without printing the password', () => {
    expect(() => redisTarget('redis://u:hunter2@h:99999')).toThrow(/bad port/);
    expect(() => redisTarget('redis://u:hunter2@h:99999')).not.toThrow(/hunter2/);
  });
});

describe('redactUrl', () => {
  it('hides passwords, with or without a user name, even with an @ inside', () => {
    expect(redactUrl('amqp://guest:guest@127.0.0.1:5672')).toBe('amqp://guest:***@127.0.0.1:5672');
    expect(redactUrl('redis://:secret@127.0.0.1:6380')).toBe('redis://:***@127.0.0.1:6380');
    expect(redactUrl('redis://u:p@ss@h1:7001,h2:7002')).toBe('redis://u:***@h1:7001,h2:7002');
    expect(redactUrl('redis://127.0.0.1:7001,127.0.0.1:7002?cluster=true')).toBe(
      'redis://127.0.0.1:7001,127.0.0.1:7002?cluster=true',
    );
  });
});

describe('broker names', () => {
  it('accepts target names (redis-durable) and kind names (redisDurable)', () => {
    expect(parseBrokerKind('redis-durable')).toBe('redisDurable');
    expect(parseBrokerKind('RedisCluster')).toBe('redisCluster');
    expect(parseBrokerKind('redis')).toBe('redis');
    expect(parseBrokerKind('redis-sentinel')).toBeUndefined();
  });

  it('REQUIRE_BROKERS=all includes the durable Redis and the cluster; lists take either name', () => {
    expect(requiredBrokers('all')).toEqual([...BROKER_KINDS]);
    expect(requiredBrokers('all')).toEqual(expect.arrayContaining(['redisDurable', 'redisCluster']));
    expect(requiredBrokers('kafka,redis-durable,redisCluster')).toEqual([
      'kafka',
      'redisDurable',
      'redisCluster',
    ]);
    expect(() => requiredBrokers('kafka,nats')).toThrow(/unknown broker\(s\) nats/);
  });
});
