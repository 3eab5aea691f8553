import { randomBytes, randomUUID } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import { createAdmin, createBus, defineEvent } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type RedisIdempotencyStore, redisIdempotencyStore } from '../src/index.ts';
import { Fixture, REDIS_URL, sleep, uniqueTopic, waitUntil } from './helpers.ts';

const KAFKA_URL = brokerUrl('kafka');

describe.skipIf(!REDIS_URL)('redis idempotency store', () => {
  const fixture = new Fixture(REDIS_URL!);
  // A prefix of its own, so clean-up deletes exactly what these tests wrote.
  const prefix = `test-idem-${randomBytes(4).toString('hex')}`;
  const stores: RedisIdempotencyStore[] = [];
  const store = () => {
    const created = redisIdempotencyStore(`${REDIS_URL}?prefix=${prefix}`);
    stores.push(created);
    return created;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    const redis = fixture.raw();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await fixture.cleanUp();
  });

  it('leases while running, records after success, and is shared by every instance', async () => {
    const [a, b] = [store(), store()];
    expect(await a.claim('g:1', 60_000)).toBe('claimed');
    expect(await b.claim('g:1', 60_000)).toBe('busy');
    await b.release('g:1'); // b does not hold it: nothing happens
    expect(await b.claim('g:1', 60_000)).toBe('busy');
    await a.complete('g:1', 60_000);
    expect(await b.claim('g:1', 60_000)).toBe('completed');
    expect(await b.claim('g:2', 60_000)).toBe('claimed');
    await b.release('g:2');
    expect(await a.claim('g:2', 60_000)).toBe('claimed');
    const ttl = await fixture.raw().pttl(`${prefix}:idempotency:g:1`);
    expect(ttl).toBeGreaterThan(50_000);
  });

  it('a dead holder is taken over once its lease expires, and its late release frees nothing', async () => {
    const [dead, next] = [store(), store()];
    expect(await dead.claim('g:3', 300)).toBe('claimed');
    expect(await next.claim('g:3', 60_000)).toBe('busy');
    await sleep(400);
    expect(await next.claim('g:3', 60_000)).toBe('claimed');
    await dead.release('g:3'); // wakes up late: must not free next's lease
    expect(await dead.claim('g:3', 60_000)).toBe('busy');
  });

  const buses = [['memory://', 'memory://'] as const, ['kafka', KAFKA_URL] as const];
  for (const [name, url] of buses) {
    it.skipIf(!url)(`runs a duplicated event once on a ${name} subscription`, async () => {
      const topic = uniqueTopic(`idem-${name.replace(/\W/g, '')}`);
      const contract = defineEvent({
        type: 'test.redis.idempotent',
        version: 1,
        topic,
        avro: { type: 'record', name: 'Idem', fields: [{ name: 'n', type: 'int' }] },
      });
      const bus = await createBus(url!);
      try {
        const effects: string[] = [];
        await bus.subscribe(
          contract,
          { group: 'once', idempotency: { store: store() } },
          (_e, c) => void effects.push(c.id),
        );
        const id = randomUUID();
        await bus.publish(contract, { n: 1 }, { key: 'k', id });
        await bus.publish(contract, { n: 1 }, { key: 'k', id });
        await bus.publish(contract, { n: 2 }, { key: 'k' });
        await waitUntil(
          () => effects.length >= 2,
          () => `effects: ${effects}`,
          60_000,
        );
        await sleep(300);
        expect(effects.filter((e) => e === id)).toHaveLength(1);
        expect(await fixture.raw().get(`${prefix}:idempotency:once:${id}`)).toBe('done');
      } finally {
        await bus.close();
        if (url !== 'memory://') {
          const admin = await createAdmin(url!);
          await admin.deleteTopic(topic, ['once']);
          await admin.deleteTopic(`${topic}.dlq`, ['dead-letters']);
          await admin.close();
        }
      }
    });
  }
});
