import { ConfigError, createBus, defineEvent, partitionOf } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisStreamFullError } from '../src/index.ts';
import {
  collector,
  entryHeader,
  Fixture,
  message,
  REDIS_URL,
  sleep,
  uniqueTopic,
  waitUntil,
} from './helpers.ts';

/** Two keys that land in different partitions of `partitions`. */
function keysInTwoPartitions(partitions: number): [string, string] {
  const first = 'a';
  for (let i = 0; ; i++) {
    const other = `b${i}`;
    if (partitionOf(other, partitions) !== partitionOf(first, partitions)) return [first, other];
  }
}

describe.skipIf(!REDIS_URL)('redis: streams, layout and limits', () => {
  const fixture = new Fixture(REDIS_URL!);
  afterEach(() => fixture.cleanUp());

  it('lays a topic out as one stream per partition, each with its lease under the same hash tag', async () => {
    const topic = fixture.track(uniqueTopic('layout'), 'g1', 'g2');
    const transport = await fixture.transport({ partitions: 4 });
    await transport.provision(topic, ['g1', 'g2']);
    const redis = fixture.raw();
    for (let p = 0; p < 4; p++) {
      const groups = (await redis.xinfo('GROUPS', `omnibus:{${topic}:${p}}`)) as string[][];
      expect(groups.map((g) => g[1]).sort()).toEqual(['g1', 'g2']);
    }
    expect(await redis.hget(`omnibus:{${topic}}:meta`, 'partitions')).toBe('4');
    expect((await redis.smembers(`omnibus:{${topic}}:groups`)).sort()).toEqual(['g1', 'g2']);
    const sub = await transport.subscribe(collector({ topic, group: 'g1' }).request);
    const leases = await redis.keys(`omnibus:{${topic}:*}:lease:g1`);
    expect(leases.sort()).toEqual([0, 1, 2, 3].map((p) => `omnibus:{${topic}:${p}}:lease:g1`));
    expect(await redis.zcard(`omnibus:{${topic}}:members:g1`)).toBe(1);
    await sub.close();
    expect(await redis.keys(`omnibus:{${topic}:*}:lease:g1`)).toEqual([]);
    expect(await redis.zcard(`omnibus:{${topic}}:members:g1`)).toBe(0);
  });

  it('refuses a service whose partition count differs from the one recorded on the topic', async () => {
    const topic = fixture.track(uniqueTopic('partitions'), 'g');
    await (await fixture.transport({ partitions: 4 })).provision(topic, ['g']);
    const other = await fixture.transport({ partitions: 8 });
    await expect(other.publish(message(topic, 1, 'k'))).rejects.toThrow(ConfigError);
    await expect(other.publish(message(topic, 1, 'k'))).rejects.toThrow(
      /has 4 partitions .* uses partitions=8/,
    );
  });

  it('keeps bodies byte for byte and headers in any script', async () => {
    const topic = fixture.track(uniqueTopic('bytes'), 'g');
    const transport = await fixture.transport();
    await transport.provision(topic, ['g']);
    const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const seen = collector({ topic, group: 'g' });
    await transport.subscribe(seen.request);
    await transport.publish({ topic, key: 'ключ', body, headers: { 'x-ü': 'Grüße 🚀', empty: '' } });
    await waitUntil(
      () => seen.deliveries.length === 1,
      () => 'nothing delivered',
    );
    const [delivery] = seen.deliveries;
    expect(Buffer.from(delivery!.body).equals(body)).toBe(true);
    expect(delivery!.key).toBe('ключ');
    expect(delivery!.headers).toEqual({ 'x-ü': 'Grüße 🚀', empty: '' });
    expect(delivery!.deliveryCount).toBe(1);
  });

  it('writes the headers as one JSON field "h" (headers=fields: one "h:<name>" each); a consumer reads both', async () => {
    const topic = fixture.track(uniqueTopic('layout'), 'g');
    const json = await fixture.transport({ partitions: 1 });
    const fields = await fixture.transport({ partitions: 1, headers: 'fields' });
    await json.provision(topic, ['g']);
    const headers = { ce_id: 'id-1', 'x-ü': 'Grüße "🚀"\n', empty: '' };
    await json.publish({ topic, key: 'k', body: Buffer.from('one'), headers });
    await fields.publish({ topic, key: 'k', body: Buffer.from('two'), headers });
    const stored = await fixture.raw().xrange(`omnibus:{${topic}:0}`, '-', '+');
    expect(stored.map(([, f]) => f)).toEqual([
      ['b', 'one', 'k', 'k', 'h', JSON.stringify(headers)],
      ['b', 'two', 'k', 'k', 'h:ce_id', 'id-1', 'h:x-ü', 'Grüße "🚀"\n', 'h:empty', ''],
    ]);
    const seen = collector({ topic, group: 'g' });
    await json.subscribe(seen.request);
    await waitUntil(
      () => seen.deliveries.length === 2,
      () => `${seen.deliveries.length}/2 delivered`,
    );
    expect(seen.deliveries.map((d) => [Buffer.from(d.body).toString(), d.key, d.headers])).toEqual([
      ['one', 'k', headers],
      ['two', 'k', headers],
    ]);
  });

  it('dead-letters an entry another tool wrote without a body field, saying so, and reads on', async () => {
    const topic = fixture.track(uniqueTopic('foreign'), 'g', 'dead-letters');
    const contract = defineEvent({
      type: 'test.redis.foreign',
      version: 1,
      topic,
      avro: { type: 'record', name: 'Foreign', fields: [{ name: 'n', type: 'int' }] },
    });
    const bus = await createBus(`${REDIS_URL}?partitions=1`);
    try {
      const got: number[] = [];
      const letters: { reason: string; error: string; headers: Record<string, string> }[] = [];
      await bus.subscribe(contract, { group: 'g' }, (event) => void got.push(event.n));
      await bus.subscribeDeadLetters(contract, {}, (letter) => void letters.push(letter));
      const redis = fixture.raw();
      await redis.xadd(`omnibus:{${topic}:0}`, '*', 'payload', 'not an omnibus entry', 'h:ce_id', 'x1');
      await bus.publish(contract, { n: 7 });
      await waitUntil(
        () => got.length === 1 && letters.length === 1,
        () => `${got} / ${letters.length} letters`,
      );
      expect(letters[0]!.reason).toBe('undecodable');
      expect(letters[0]!.headers['omnibus-redis-malformed']).toMatch(/has no "b" \(body\) field/);
      expect(letters[0]!.headers.ce_id).toBe('x1');
    } finally {
      await bus.close();
    }
  });

  it('a publish Redis refuses fails alone: the others of its tick are stored, each stream in call order', async () => {
    const topic = fixture.track(uniqueTopic('pipelined'), 'g');
    const transport = await fixture.transport({ partitions: 2 });
    await transport.provision(topic, ['g']);
    const [good, bad] = keysInTwoPartitions(2);
    const redis = fixture.raw();
    const broken = `omnibus:{${topic}:${partitionOf(bad, 2)}}`;
    await redis.del(broken);
    await redis.set(broken, 'not a stream'); // every XADD to it fails with WRONGTYPE
    const outcomes = await Promise.allSettled(
      [1, 2, 3, 4, 5, 6].map((seq) => transport.publish(message(topic, seq, seq % 2 === 0 ? bad : good))),
    );
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
    ]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    const stored = await redis.xrange(`omnibus:{${topic}:${partitionOf(good, 2)}}`, '-', '+');
    expect(stored.map(([, f]) => entryHeader(f, 'seq'))).toEqual(['1', '3', '5']);
    await redis.del(broken);
  });

  it('maxLen: refuses a publish instead of trimming entries a group has not acknowledged, and trims what it has', async () => {
    const topic = fixture.track(uniqueTopic('maxlen'), 'g');
    const transport = await fixture.transport({ partitions: 1, maxLen: 5 });
    await transport.provision(topic, ['g']);
    for (let seq = 0; seq < 5; seq++) await transport.publish(message(topic, seq, 'k'));
    const refused = await transport.publish(message(topic, 5, 'k')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RedisStreamFullError);
    expect((refused as Error).message).toMatch(
      /holds 5 entries \(maxLen 5\) and group "g" has not acknowledged/,
    );
    const redis = fixture.raw();
    const stream = `omnibus:{${topic}:0}`;
    expect(await redis.xlen(stream)).toBe(5);
    // The group acknowledges seq 0-2 and holds 3 and 4: only 0-2 may go.
    const seen = collector({ topic, group: 'g' }, (d) => (Number(d.headers.seq) < 3 ? d.ack() : undefined));
    await transport.subscribe(seen.request);
    await waitUntil(
      () => seen.deliveries.length === 5,
      () => `${seen.deliveries.length} of 5 delivered`,
    );
    await sleep(50);
    await transport.publish(message(topic, 5, 'k'));
    const left = (await redis.xrange(stream, '-', '+')).map(([, fields]) => entryHeader(fields, 'seq'));
    expect(left).toEqual(['3', '4', '5']);
  });

  it('publishBatch keeps each key in order and stops a key at its first failure, other keys go on', async () => {
    const topic = fixture.track(uniqueTopic('batch'), 'g');
    const [a, b] = keysInTwoPartitions(2);
    const transport = await fixture.transport({ partitions: 2, maxLen: 2 });
    await transport.provision(topic, ['g']);
    await transport.publish(message(topic, 0, a));
    const outcomes = await transport.publishBatch([
      message(topic, 1, a),
      message(topic, 2, b),
      message(topic, 3, a),
      message(topic, 4, a),
      message(topic, 5, b),
    ]);
    expect(outcomes.map((o) => (o ? o.constructor.name : 'stored'))).toEqual([
      'stored',
      'stored',
      'RedisStreamFullError',
      'BrokerError',
      'stored',
    ]);
    expect(outcomes[3]!.message).toMatch(new RegExp(`earlier event of key "${a}"`));
    const redis = fixture.raw();
    const seqs = async (p: number) =>
      (await redis.xrange(`omnibus:{${topic}:${p}}`, '-', '+')).map(([, f]) => entryHeader(f, 'seq'));
    expect(await seqs(partitionOf(a, 2))).toEqual(['0', '1']);
    expect(await seqs(partitionOf(b, 2))).toEqual(['2', '5']);
  });

  it('counts deliveries: an entry left pending by one instance comes to the next with deliveryCount 2', async () => {
    const topic = fixture.track(uniqueTopic('count'), 'g');
    const first = await fixture.transport({ partitions: 1 });
    await first.provision(topic, ['g']);
    await first.publish(message(topic, 1, 'k'));
    const held = collector({ topic, group: 'g' }, () => undefined);
    const sub = await first.subscribe(held.request);
    await waitUntil(
      () => held.deliveries.length === 1,
      () => 'not delivered',
    );
    await sub.close(); // unsettled: left pending for the next owner
    const next = collector({ topic, group: 'g' });
    await (await fixture.transport({ partitions: 1 })).subscribe(next.request);
    await waitUntil(
      () => next.deliveries.length === 1,
      () => 'not redelivered',
    );
    expect(next.deliveries[0]!.deliveryCount).toBe(2);
    expect(held.deliveries[0]!.deliveryCount).toBe(1);
  });
});
