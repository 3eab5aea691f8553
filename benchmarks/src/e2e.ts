import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Bus, createBus } from '@omnibus/core';
import { type KafkaTransport, parseKafkaUrl } from '@omnibus/kafka';
import type { RabbitMqTransport } from '@omnibus/rabbitmq';
import * as redisAdapter from '@omnibus/redis';
import { amqpProperties, amqpTarget, RawAmqp, type RawAmqpSettings } from './amqp.ts';
import { RawKafka } from './kafka.ts';
import { type BenchPayload, benchContract, headerBytes, sizedPayload } from './payload.ts';
import { RawRedis } from './redis.ts';
import { ArrivalClock, CpuWindow, runWindowed, withTimeout } from './stats.ts';

/**
 * The three contenders of the end-to-end table: a raw driver with JSON payloads (what a competent
 * engineer writes without omnibus), the raw driver sending omnibus's exact bytes and headers (driver
 * cost alone), and omnibus itself.
 */
export const VARIANTS = ['raw JSON', 'raw omnibus bytes', 'omnibus'] as const;
export type Variant = (typeof VARIANTS)[number];
export const PHASES = ['publish', 'consume', 'end-to-end'] as const;
export type Phase = (typeof PHASES)[number];

export interface Sample {
  /** Events per second. */
  rate: number;
  /** Process CPU (user + system) per event, µs. */
  cpuUs: number;
}

/** One broker's contender: how it makes a destination, publishes and consumes. */
export interface Side {
  variant: Variant;
  /** A fresh topic (and group) that nothing has used; returns its name. */
  fresh(tag: string): Promise<string>;
  /** `count` events, all acknowledged by the broker (throughput path: batches / windows). */
  publish(topic: string, count: number): Promise<void>;
  /** Events `seqs` now, as one batch where the driver batches (latency path); resolves when acked. */
  send(topic: string, seqs: number[]): Promise<void>;
  /** Starts consuming `topic`'s fresh group; `onEvent(seq)` per event (-1 when not decoded); resolves ready. */
  consume(topic: string, onEvent: (seq: number) => void): Promise<() => Promise<void>>;
}

export interface E2eSettings {
  messages: number;
  runs: number;
  size: number;
  inFlight: number;
  batch: number;
  concurrency: number;
  prefetch: number;
  timeoutMs: number;
  urls: { kafka: string; amqp: string; redis: string };
  log?: (line: string) => void;
}

/** The brokers with a raw JSON baseline. */
export const E2E_BROKERS = ['kafka', 'amqp', 'redis'] as const;
export type E2eBroker = (typeof E2E_BROKERS)[number];

export interface E2eReport {
  broker: E2eBroker;
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  conditions: string[];
  /** samples[phase][variant]: one per run. */
  samples: Record<Phase, Record<Variant, Sample[]>>;
}

export interface Fixture {
  sides: Side[];
  conditions: string[];
  close(): Promise<void>;
}

const GROUP = 'bench';
const require = createRequire(import.meta.url);

/** The version of an installed package (from its package.json), or 'unknown'. */
export function packageVersion(name: string): string {
  try {
    // Some packages do not export their package.json: walk up from the entry point.
    let dir = dirname(require.resolve(name));
    for (;;) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (json.name === name && json.version) return json.version;
      }
      const up = dirname(dir);
      if (up === dir) return 'unknown';
      dir = up;
    }
  } catch {
    return 'unknown';
  }
}

export function emptySamples(): Record<Phase, Record<Variant, Sample[]>> {
  const byVariant = () =>
    ({ 'raw JSON': [], 'raw omnibus bytes': [], omnibus: [] }) as Record<Variant, Sample[]>;
  return { publish: byVariant(), consume: byVariant(), 'end-to-end': byVariant() };
}

/**
 * Per run, each contender in turn (the order rotates every run): publish N to a fresh topic
 * (publish-only), a fresh group consumes those N (consume-only), then with a consumer ready on a second
 * fresh topic, publish N and time the first publish call to the N-th event handled (end-to-end).
 */
export async function measureSides(
  sides: Side[],
  settings: { messages: number; runs: number; timeoutMs: number; log?: (line: string) => void },
  label: string,
): Promise<Record<Phase, Record<Variant, Sample[]>>> {
  const samples = emptySamples();
  const n = settings.messages;
  for (let r = 0; r < settings.runs; r++) {
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    for (const side of order) {
      const topic = await side.fresh(`${r}-a`);
      let meter = new CpuWindow();
      await withTimeout(
        side.publish(topic, n),
        settings.timeoutMs,
        `${label} ${side.variant} publish timed out`,
      );
      samples.publish[side.variant].push(meter.stop(n));

      let clock = new ArrivalClock(n);
      meter = new CpuWindow();
      let stop = await side.consume(topic, () => clock.tick());
      clock.start();
      await withTimeout(clock.done, settings.timeoutMs, `${label} ${side.variant} got ${clock.count}/${n}`);
      samples.consume[side.variant].push({ rate: clock.rate(), cpuUs: meter.stop(n).cpuUs });
      await stop();

      const second = await side.fresh(`${r}-b`);
      clock = new ArrivalClock(n);
      let last = 0;
      stop = await side.consume(second, () => {
        clock.tick();
        if (clock.count === n) last = performance.now();
      });
      meter = new CpuWindow();
      const published = side.publish(second, n);
      await withTimeout(
        Promise.all([published, clock.done]),
        settings.timeoutMs,
        `${label} ${side.variant} end-to-end got ${clock.count}/${n}`,
      );
      samples['end-to-end'][side.variant].push(meter.stop(n, last));
      await stop();
    }
    settings.log?.(`${label} end-to-end run ${r + 1}/${settings.runs} done`);
  }
  return samples;
}

function jsonBody(payload: BenchPayload, seq?: number): Buffer {
  return Buffer.from(JSON.stringify(seq === undefined ? payload : { ...payload, seq }));
}

function jsonSeq(content: Buffer | null): number {
  return content ? (JSON.parse(content.toString('utf8')) as BenchPayload).seq : -1;
}

/** omnibus on `bus`: provision + `bus.publish` windowed / `bus.subscribe`. */
function omnibusSide(
  bus: Bus,
  id: string,
  payload: BenchPayload,
  s: E2eSettings,
  created: { topics: string[]; groups: string[] },
): Side {
  const contracts = new Map<string, ReturnType<typeof benchContract>>();
  const contract = (topic: string) => contracts.get(topic)!;
  return {
    variant: 'omnibus',
    async fresh(tag) {
      const c = benchContract(`omnibus-bench-${id}-sdk-${tag}`);
      contracts.set(c.topic, c);
      created.topics.push(c.topic, `${c.topic}.dlq`);
      created.groups.push(`${GROUP}-${c.topic}`);
      await bus.provision(c, { groups: [`${GROUP}-${c.topic}`] });
      return c.topic;
    },
    publish: (topic, count) => runWindowed(count, s.inFlight, () => bus.publish(contract(topic), payload)),
    async send(topic, seqs) {
      await Promise.all(seqs.map((seq) => bus.publish(contract(topic), { ...payload, seq })));
    },
    async consume(topic, onEvent) {
      const subscription = await bus.subscribe(
        contract(topic),
        { group: `${GROUP}-${topic}`, concurrency: s.concurrency, prefetch: s.prefetch, maxAttempts: 1 },
        (event) => onEvent(event.seq),
      );
      return () => subscription.close();
    },
  };
}

/** Kafka: kafkajs idempotent producer, acks=-1, sequential sendBatch; eachBatch consumers. */
export async function kafkaFixture(s: E2eSettings, id: string): Promise<Fixture> {
  const bus = await createBus({ url: s.urls.kafka, source: 'urn:omnibus:bench' });
  const adapter = (bus.transport as KafkaTransport).options;
  let raw: RawKafka;
  try {
    raw = await RawKafka.connect(parseKafkaUrl(s.urls.kafka).brokers);
  } catch (error) {
    await bus.close();
    throw error;
  }
  const payload = sizedPayload(s.size);
  const wire = bus.encode(benchContract('omnibus.bench.sizing'), payload);
  const value = Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength);
  const created = { topics: [] as string[], groups: [] as string[] };
  const tuning = { partitions: adapter.partitions, commitIntervalMs: adapter.commitIntervalMs };
  const rawSide = (variant: Variant, json: boolean): Side => {
    // A competent kafkajs publisher coalesces what arrives while a request is on the wire into the next.
    let pending: { messages: { value: Buffer }[]; done: Promise<void> } | undefined;
    let flushing = Promise.resolve();
    return {
      variant,
      async fresh(tag) {
        const topic = `omnibus-bench-${id}-${json ? 'json' : 'bytes'}-${tag}`;
        created.topics.push(topic);
        await raw.createTopic(topic, adapter.partitions);
        return topic;
      },
      publish: (topic, count) =>
        raw.sendMany(topic, count, s.batch, () =>
          json ? { value: jsonBody(payload) } : { value, headers: wire.headers },
        ),
      send(topic, seqs) {
        const messages = seqs.map((seq) => ({ value: jsonBody(payload, seq) }));
        if (pending) {
          pending.messages.push(...messages);
          return pending.done;
        }
        const batch = { messages, done: Promise.resolve() };
        batch.done = flushing.then(async () => {
          pending = undefined;
          await raw.producer.sendBatch({ topicMessages: [{ topic, messages: batch.messages }], acks: -1 });
        });
        pending = batch;
        flushing = batch.done.catch(() => {});
        return batch.done;
      },
      consume(topic, onEvent) {
        const group = `${GROUP}-${topic}`;
        created.groups.push(group);
        return raw.startConsumer(topic, group, tuning, (m) => onEvent(json ? jsonSeq(m.value) : -1));
      },
    };
  };
  return {
    sides: [
      rawSide('raw JSON', true),
      rawSide('raw omnibus bytes', false),
      omnibusSide(bus, id, payload, s, created),
    ],
    conditions: [
      `broker: Kafka at ${adapter.brokers.join(', ')}; ${adapter.partitions} partitions per topic, replication factor = broker default`,
      `producer (all): kafkajs ${packageVersion('kafkajs')}, idempotent, acks=-1, maxInFlightRequests=1, no compression; raw: sequential sendBatch of ${s.batch}; omnibus: ${s.inFlight} bus.publish in flight, adapter coalesces into sendBatch (≤ ${adapter.maxBatchMessages} msgs / ${adapter.maxBatchBytes} B, linger ${adapter.lingerMs} ms)`,
      `consumer (all): fresh group, eachBatch, ${adapter.partitions} partitions consumed concurrently, offsets committed every ${adapter.commitIntervalMs} ms (raw: auto-resolve/auto-commit; omnibus: concurrency ${s.concurrency}, prefetch ${s.prefetch}, maxAttempts 1), session 10 s, heartbeat 1 s, maxWait 1 s`,
      messageLine(wire, payload),
    ],
    async close() {
      // Topics go only once both producers are gone (kafkajs keeps refreshing metadata of every topic).
      await bus.close();
      await raw.close({ deleteTopics: created.topics, deleteGroups: created.groups });
    },
  };
}

/** RabbitMQ: amqplib confirm channel with a window, persistent + mandatory; prefetch per queue. */
export async function amqpFixture(s: E2eSettings, id: string): Promise<Fixture> {
  const bus = await createBus({
    url: `${s.urls.amqp}${s.urls.amqp.includes('?') ? '&' : '?'}connectTimeout=5000`,
    source: 'urn:omnibus:bench',
  });
  const adapter = (bus.transport as RabbitMqTransport).options;
  const target = amqpTarget(s.urls.amqp);
  let raw: RawAmqp;
  try {
    raw = await RawAmqp.connect(target);
  } catch (error) {
    await bus.close();
    throw error;
  }
  const settings: RawAmqpSettings = {
    confirmWindow: adapter.confirmWindow,
    partitions: adapter.partitions,
    prefetch: s.prefetch,
    timeoutMs: s.timeoutMs,
  };
  const payload = sizedPayload(s.size);
  const wire = bus.encode(benchContract('omnibus.bench.sizing'), payload);
  const content = Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength);
  const wireProperties = amqpProperties(wire);
  const jsonProperties = { persistent: true, mandatory: true, contentType: 'application/json' };
  const created = { topics: [] as string[], groups: [] as string[] };
  const publishers = new Map<string, Awaited<ReturnType<RawAmqp['confirmPublisher']>>>();
  const rawSide = (variant: Variant, json: boolean): Side => ({
    variant,
    async fresh(tag) {
      const topic = `omnibus-bench-${id}-${json ? 'json' : 'bytes'}-${tag}`;
      created.topics.push(topic);
      await raw.declare(topic, GROUP, adapter.partitions, adapter.queueType);
      return topic;
    },
    publish: (topic, count) =>
      json
        ? raw.publishMany(topic, count, settings, () => jsonBody(payload), jsonProperties)
        : raw.publishMany(topic, count, settings, () => content, wireProperties),
    async send(topic, seqs) {
      let publisher = publishers.get(topic);
      if (!publisher) {
        publisher = await raw.confirmPublisher(topic, adapter.partitions, jsonProperties);
        publishers.set(topic, publisher);
      }
      const p = publisher;
      await Promise.all(seqs.map((seq) => p.send(jsonBody(payload, seq))));
    },
    consume: (topic, onEvent) =>
      raw.startConsumer(topic, GROUP, settings, (body) => onEvent(json ? jsonSeq(body) : -1)),
  });
  const sdk = omnibusSide(bus, id, payload, s, { topics: [], groups: [] });
  const sdkSide: Side = {
    ...sdk,
    async fresh(tag) {
      const topic = await sdk.fresh(tag);
      created.topics.push(topic);
      return topic;
    },
    // The adapter names its queues after the group.
    consume: sdk.consume,
  };
  return {
    sides: [rawSide('raw JSON', true), rawSide('raw omnibus bytes', false), sdkSide],
    conditions: [
      `broker: ${raw.server} at ${target.hostname}:${target.port}; durable direct exchange per topic, ${adapter.partitions} durable ${adapter.queueType} queues (single-active-consumer), round-robin`,
      `publish (all): confirm channel, persistent + mandatory, ≤ ${adapter.confirmWindow} unconfirmed, 'drain' on back-pressure; omnibus: ${s.inFlight} bus.publish in flight`,
      `consume (all): one channel per partition queue, prefetch ${s.prefetch}, manual ack per message; omnibus: concurrency ${s.concurrency}, prefetch ${s.prefetch}, maxAttempts 1`,
      messageLine(wire, payload),
    ],
    async close() {
      for (const publisher of publishers.values()) await publisher.close();
      await bus.close();
      for (const topic of created.topics) {
        await raw.cleanup(topic, GROUP, adapter.partitions);
        await raw.cleanup(topic, `${GROUP}-${topic}`, adapter.partitions);
      }
      await raw.close();
    },
  };
}

/** The fixture of `broker` (connects both the SDK and the raw driver). */
export function openFixture(broker: E2eBroker, s: E2eSettings, id: string): Promise<Fixture> {
  if (broker === 'kafka') return kafkaFixture(s, id);
  if (broker === 'amqp') return amqpFixture(s, id);
  return redisFixture(s, id);
}

/** Redis: ioredis pipelined XADD round-robin over the adapter's partition streams; XREADGROUP + XACK. */
export async function redisFixture(s: E2eSettings, id: string): Promise<Fixture> {
  const bus = await createBus({ url: s.urls.redis, source: 'urn:omnibus:bench' });
  const adapter = (bus.transport as redisAdapter.RedisTransport).options;
  let raw: RawRedis;
  let admin: Awaited<ReturnType<typeof redisAdapter.createAdmin>>;
  try {
    raw = await RawRedis.connect(s.urls.redis);
    admin = await redisAdapter.createAdmin(new URL(s.urls.redis), s.urls.redis);
  } catch (error) {
    await bus.close();
    throw error;
  }
  const settings = {
    batch: s.batch,
    partitions: adapter.partitions,
    readCount: Math.max(1, Math.floor(s.prefetch / adapter.partitions)),
    timeoutMs: s.timeoutMs,
  };
  const payload = sizedPayload(s.size);
  const wire = bus.encode(benchContract('omnibus.bench.sizing'), payload);
  const wireFields: (string | Buffer)[] = [
    'b',
    Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength),
  ];
  for (const [name, value] of Object.entries(wire.headers)) wireFields.push(`h:${name}`, value);
  const rawTopics: string[] = [];
  const sdkTopics: string[] = [];
  const rawSide = (variant: Variant, json: boolean): Side => {
    let next = 0;
    return {
      variant,
      async fresh(tag) {
        const topic = `omnibus-bench-${id}-${json ? 'json' : 'bytes'}-${tag}`;
        rawTopics.push(topic);
        await raw.createGroup(topic, GROUP, adapter.partitions);
        return topic;
      },
      publish: (topic, count) =>
        raw.publishMany(topic, count, settings, () => (json ? ['d', jsonBody(payload)] : wireFields)),
      send(topic, seqs) {
        const first = next;
        next += seqs.length;
        return raw.add(
          topic,
          adapter.partitions,
          first,
          seqs.map((seq) => ['d', jsonBody(payload, seq)]),
        );
      },
      consume: (topic, onEvent) =>
        raw.startConsumer(topic, GROUP, settings, (fields) =>
          onEvent(json ? jsonSeq(fields[1] ?? null) : -1),
        ),
    };
  };
  const sdk = omnibusSide(bus, id, payload, s, { topics: [], groups: [] });
  return {
    sides: [
      rawSide('raw JSON', true),
      rawSide('raw omnibus bytes', false),
      {
        ...sdk,
        async fresh(tag) {
          const topic = await sdk.fresh(tag);
          sdkTopics.push(topic);
          return topic;
        },
      },
    ],
    conditions: [
      `broker: Redis at ${adapter.hosts.join(', ')}${adapter.cluster ? ' (cluster)' : ''}; ${adapter.partitions} partition streams per topic, consumer group created before publishing`,
      `publish: raw sequential pipelines of ${s.batch} XADD round-robin over the streams (latency: one pipeline per timer tick); omnibus: ${s.inFlight} bus.publish in flight, one XADD each, ioredis auto-pipelining`,
      `consume: raw one XREADGROUP over all streams, COUNT ${settings.readCount} each, BLOCK 1 s, then one pipelined XACK per stream; omnibus: concurrency ${s.concurrency}, prefetch ${s.prefetch}, maxAttempts 1 (leases, fenced read and ack scripts)`,
      messageLine(wire, payload),
    ],
    async close() {
      await bus.close();
      for (const topic of rawTopics) await raw.deleteTopic(topic, adapter.partitions);
      for (const topic of sdkTopics) {
        await admin.deleteTopic(topic, [`${GROUP}-${topic}`]).catch(() => {});
        await admin.deleteTopic(`${topic}.dlq`, ['dead-letters']).catch(() => {});
      }
      await admin.close();
      await raw.close();
    },
  };
}

function messageLine(
  wire: { body: Uint8Array; headers: Record<string, string> },
  payload: BenchPayload,
): string {
  const headers = headerBytes(wire.headers);
  return `messages: raw JSON ${jsonBody(payload).length} B body, no headers (JSON.stringify per publish, JSON.parse per delivery); omnibus and raw omnibus bytes: ${wire.body.length} B Avro body + ${headers} B in ${Object.keys(wire.headers).length} CloudEvents headers (raw omnibus bytes is encoded once and only counted on consume)`;
}

/** Runs the end-to-end table of one broker; never throws (a failure is reported). */
export async function runE2e(broker: E2eBroker, s: E2eSettings): Promise<E2eReport> {
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  let fixture: Fixture;
  try {
    fixture = broker === 'kafka' ? await kafkaFixture(s, id) : await amqpFixture(s, id);
  } catch (error) {
    return {
      broker,
      status: 'skipped',
      note: `${broker} unavailable — skipped (${describe(error)})`,
      conditions: [],
      samples: emptySamples(),
    };
  }
  try {
    const samples = await measureSides(fixture.sides, s, broker);
    return {
      broker,
      status: 'ok',
      conditions: [
        `${s.messages} events per run and phase, median of ${s.runs} runs; the contenders rotate order every run; fresh topic and group per phase`,
        'publish: first call → last broker ack; consume: a fresh group reads the N just published (clock: consumer ready → N-th delivery; CPU from consumer start); end-to-end: consumer ready on a fresh topic, first publish call → N-th event handled',
        ...fixture.conditions,
      ],
      samples,
    };
  } catch (error) {
    return {
      broker,
      status: 'failed',
      note: `${broker} end-to-end failed: ${describe(error)}`,
      conditions: [],
      samples: emptySamples(),
    };
  } finally {
    await fixture.close().catch(() => {});
  }
}

export function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}
