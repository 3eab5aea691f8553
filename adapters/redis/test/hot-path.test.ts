import { describe, expect, it } from 'vitest';
import { AckBatcher } from '../src/acks.ts';
import { redisCapabilities } from '../src/adapter.ts';
import type { RedisClient } from '../src/connection.ts';
import { FieldDecoder, MALFORMED_HEADER } from '../src/keys.ts';
import { DEFAULT_OPTIONS } from '../src/options.ts';
import { newPartition } from '../src/partition.ts';
import { Publisher } from '../src/publish.ts';

/** Stream entry fields as ioredis returns them (Buffers). */
function fields(...pairs: string[]): Buffer[] {
  return pairs.map((text) => Buffer.from(text));
}

describe('redis: decoding entries', () => {
  it('reads each entry as written, whatever the previous entry held at the same position', () => {
    const decoder = new FieldDecoder();
    const entries = [
      fields('b', 'one', 'h:type', 'created', 'h:id', 'a1'),
      fields('b', 'two', 'h:type', 'created', 'h:id', 'a2'),
      fields('b', 'three', 'h:type', 'deleted', 'h:id', 'a3'),
      fields('b', 'four', 'k', 'key-4', 'h:id', 'a4', 'h:type', 'created'),
      fields('b', 'five', 'h:ID', 'a5', 'h:x-ü', 'Grüße'),
    ];
    const decoded = entries.map((list, i) => decoder.decode(`${i}-0`, list));
    expect(decoded.map((d) => Buffer.from(d.body).toString())).toEqual([
      'one',
      'two',
      'three',
      'four',
      'five',
    ]);
    expect(decoded.map((d) => d.headers)).toEqual([
      { type: 'created', id: 'a1' },
      { type: 'created', id: 'a2' },
      { type: 'deleted', id: 'a3' },
      { id: 'a4', type: 'created' },
      { ID: 'a5', 'x-ü': 'Grüße' },
    ]);
    expect(decoded.map((d) => d.key)).toEqual([undefined, undefined, undefined, 'key-4', undefined]);
  });

  it('reads the JSON field "h" and "h:<name>" fields, in the same entry too ("h:<name>" wins)', () => {
    const decoder = new FieldDecoder();
    const packed = JSON.stringify({ type: 'created', id: 'a1', 'x-ü': 'Grüße "🚀"' });
    expect(decoder.decode('1-0', fields('b', 'one', 'k', 'key', 'h', packed))).toEqual({
      key: 'key',
      body: Buffer.from('one'),
      headers: { type: 'created', id: 'a1', 'x-ü': 'Grüße "🚀"' },
    });
    const mixed = decoder.decode(
      '2-0',
      fields('b', 'two', 'h', '{"type":"created","id":"a2"}', 'h:id', 'b2'),
    );
    expect(mixed.headers).toEqual({ type: 'created', id: 'b2' });
  });

  it('dead-letters an "h" field that is not a JSON object of strings: the body stays, the text is quoted', () => {
    for (const text of ['{"type":', '["type","created"]', '{"attempt":2}', 'null', '"x"']) {
      const decoded = new FieldDecoder().decode('3-0', fields('b', 'body', 'h', text));
      expect(Buffer.from(decoded.body).toString()).toBe('body');
      expect(decoded.headers).toEqual({
        [MALFORMED_HEADER]: `stream entry 3-0 has an "h" field that is not a JSON object of string values: ${text}`,
      });
    }
  });

  it('names an entry without a body field in a header', () => {
    const decoded = new FieldDecoder().decode('7-1', fields('h:type', 'created'));
    expect(decoded.body).toHaveLength(0);
    expect(decoded.headers[MALFORMED_HEADER]).toMatch(/stream entry 7-1 has no "b"/);
  });
});

describe('redis: batched acks', () => {
  it('acks of two acquisitions of one partition in the same turn go out apart, each under its consumer', async () => {
    const calls: string[][] = [];
    const client = {
      omnibusAck: (...args: string[]) => {
        calls.push(args);
        return Promise.resolve(args.length - 4);
      },
    } as unknown as RedisClient;
    const acks = new AckBatcher(client, 'g', (_p, _c, error) => error);
    const partition = newPartition(0, 'stream-0', 'lease-0');
    const done = [
      acks.ack(partition, 'member#1', '1-0'),
      acks.ack(partition, 'member#1', '2-0'),
      acks.ack(partition, 'member#2', '3-0'),
    ];
    await Promise.all(done);
    expect(calls).toEqual([
      ['stream-0', 'lease-0', 'member#1', 'g', '1-0', '2-0'],
      ['stream-0', 'lease-0', 'member#2', 'g', '3-0'],
    ]);
    expect(partition.acked).toBe(3);
  });
});

describe('redis: publishing', () => {
  it('keeps call order when a publish is called while earlier ones still wait for their topic check', async () => {
    let recordTopic!: (partitions: string) => void;
    const appended: string[] = [];
    const client = {
      omnibusTopic: () => new Promise<string>((resolve) => (recordTopic = resolve)),
      pipeline: () => {
        const seqs: string[] = [];
        const pipeline = {
          xadd: (_stream: string, _id: string, ...fields: unknown[]) => {
            seqs.push(JSON.parse(String(fields[fields.indexOf('h') + 1])).seq);
            return pipeline;
          },
          exec: () => {
            appended.push(...seqs);
            return Promise.resolve(seqs.map(() => [null, '1-0']));
          },
        };
        return pipeline;
      },
    } as unknown as RedisClient;
    const publisher = new Publisher(
      client,
      { ...DEFAULT_OPTIONS, partitions: 1 },
      {
        ...redisCapabilities(DEFAULT_OPTIONS),
      },
    );
    const event = (seq: number) => ({
      topic: 't',
      key: 'k',
      body: Buffer.from('x'),
      headers: { seq: String(seq) },
    });
    const first = publisher.publish(event(1));
    recordTopic('1');
    await Promise.resolve(); // the check is recorded now; the first publish has not resumed yet
    const second = publisher.publish(event(2));
    await Promise.all([first, second]);
    expect(appended).toEqual(['1', '2']);
  });
});
