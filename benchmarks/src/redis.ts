import type { OutgoingMessage } from '@omnibus/core';
import { Redis } from 'ioredis';
import { ArrivalClock, now, perSecond, withTimeout } from './stats.ts';

/**
 * The raw ioredis side, on the layout the omnibus adapter uses: P partition streams per topic, one consumer
 * group created on each before publishing, entries with the same fields (`b` body, `h` headers as JSON),
 * unkeyed messages round-robin over the streams.
 */
export interface RawRedisSettings {
  /** XADDs per pipeline (sequential pipelines). */
  batch: number;
  partitions: number;
  /** COUNT of each XREADGROUP, per stream (so up to `partitions` × this entries per call). */
  readCount: number;
  timeoutMs: number;
}

export class RawRedis {
  readonly #client: Redis;
  readonly #reader: Redis;

  private constructor(client: Redis, reader: Redis) {
    this.#client = client;
    this.#reader = reader;
  }

  static async connect(url: string): Promise<RawRedis> {
    const open = async () => {
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3_000 });
      client.on('error', () => {});
      await client.connect();
      return client;
    };
    const client = await open();
    try {
      return new RawRedis(client, await open());
    } catch (error) {
      client.disconnect();
      throw error;
    }
  }

  static streams(topic: string, partitions: number): string[] {
    return Array.from({ length: partitions }, (_, p) => `omnibus-bench-raw:{${topic}:${p}}`);
  }

  async createGroup(topic: string, group: string, partitions: number): Promise<void> {
    const pipeline = this.#client.pipeline();
    for (const stream of RawRedis.streams(topic, partitions))
      pipeline.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    await pipeline.exec();
  }

  /** `count` copies of `message` in sequential pipelines of `batch` XADDs; msg/s. */
  async publish(
    topic: string,
    message: OutgoingMessage,
    count: number,
    s: RawRedisSettings,
  ): Promise<number> {
    const streams = RawRedis.streams(topic, s.partitions);
    const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const fields: (string | Buffer)[] = ['b', body, 'h', JSON.stringify(message.headers)];
    const start = now();
    const run = async () => {
      for (let sent = 0; sent < count; ) {
        const n = Math.min(s.batch, count - sent);
        const pipeline = this.#client.pipeline();
        for (let i = 0; i < n; i++) pipeline.xadd(streams[(sent + i) % streams.length]!, '*', ...fields);
        for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
        sent += n;
      }
    };
    await withTimeout(run(), s.timeoutMs, `raw ioredis publish to ${topic} timed out`);
    return perSecond(count, now() - start);
  }

  /**
   * Reads `count` entries with one XREADGROUP (COUNT, BLOCK) over every partition stream at a time and
   * acknowledges each read's entries with one pipelined XACK per stream; msg/s first→last.
   */
  async consume(topic: string, group: string, count: number, s: RawRedisSettings): Promise<number> {
    const streams = RawRedis.streams(topic, s.partitions);
    const clock = new ArrivalClock(count);
    clock.start();
    const run = async () => {
      while (clock.count < count) {
        const reply = await RawRedis.#readGroup(this.#reader, group, streams, s.readCount);
        if (!reply) continue;
        const acks = this.#client.pipeline();
        let read = 0;
        for (const [stream, entries] of reply) {
          if (entries.length === 0) continue;
          acks.xack(stream, group, ...entries.map(([id]) => id));
          read += entries.length;
        }
        await acks.exec();
        clock.tick(read);
      }
    };
    await withTimeout(
      run(),
      s.timeoutMs,
      `raw ioredis consumer got ${clock.count} of ${count} from ${topic}`,
    );
    return clock.rate();
  }

  /** `count` entries with fields `fields(i)` in sequential pipelines of `batch` XADDs, round-robin. */
  async publishMany(
    topic: string,
    count: number,
    s: RawRedisSettings,
    fields: (index: number) => (string | Buffer)[],
  ): Promise<void> {
    const streams = RawRedis.streams(topic, s.partitions);
    for (let sent = 0; sent < count; ) {
      const n = Math.min(s.batch, count - sent);
      const pipeline = this.#client.pipeline();
      for (let i = 0; i < n; i++)
        pipeline.xadd(streams[(sent + i) % streams.length]!, '*', ...fields(sent + i));
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
      sent += n;
    }
  }

  /** XADDs of `entries` (field lists) in one pipeline, round-robin from `first`; resolves when all are stored. */
  async add(topic: string, partitions: number, first: number, entries: (string | Buffer)[][]): Promise<void> {
    const streams = RawRedis.streams(topic, partitions);
    const pipeline = this.#client.pipeline();
    for (const [i, fields] of entries.entries())
      pipeline.xadd(streams[(first + i) % streams.length]!, '*', ...fields);
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }

  /**
   * A reader of its own: XREADGROUP (COUNT, BLOCK 1 s) over every partition stream, `onEntry(fields)` per
   * entry, then one pipelined XACK per stream, until stopped; resolves at once with the stop.
   */
  async startConsumer(
    topic: string,
    group: string,
    s: RawRedisSettings,
    onEntry: (fields: Buffer[]) => void,
  ): Promise<() => Promise<void>> {
    const streams = RawRedis.streams(topic, s.partitions);
    const reader = this.#client.duplicate();
    reader.on('error', () => {});
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const reply = await RawRedis.#readGroup(reader, group, streams, s.readCount);
        if (!reply) continue;
        const acks = this.#client.pipeline();
        for (const [stream, entries] of reply) {
          if (entries.length === 0) continue;
          for (const [, fields] of entries) if (fields) onEntry(fields);
          acks.xack(stream, group, ...entries.map(([id]) => id));
        }
        await acks.exec();
      }
    })().catch(() => {});
    return async () => {
      stopped = true;
      reader.disconnect();
      await loop;
    };
  }

  /** One XREADGROUP of consumer `raw` of `group` over every partition stream: new entries, 1 s block. */
  static #readGroup(reader: Redis, group: string, streams: string[], count: number) {
    return reader.xreadgroupBuffer(
      'GROUP',
      group,
      'raw',
      'COUNT',
      count,
      'BLOCK',
      1_000,
      'STREAMS',
      ...streams,
      ...streams.map(() => '>'),
    );
  }

  async deleteTopic(topic: string, partitions: number): Promise<void> {
    await this.#client.del(...RawRedis.streams(topic, partitions)).catch(() => {});
  }

  async close(): Promise<void> {
    this.#reader.disconnect();
    await this.#client.quit().catch(() => this.#client.disconnect());
  }
}
