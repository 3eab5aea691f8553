import { type Bus, createBus } from '@omnibus/core';
import { type KafkaTransport, parseKafkaUrl } from '@omnibus/kafka';
import type { RabbitMqTransport } from '@omnibus/rabbitmq';
import * as redisAdapter from '@omnibus/redis';
import { amqpProperties, amqpTarget, RawAmqp, type RawAmqpSettings } from './amqp.ts';
import { CEILING_PRODUCER_PROPS, KAFKA_TOOLS_VERSION, producerPerformance } from './ceiling.ts';
import type { E2eBroker, E2eSettings, Fixture, Side, Variant } from './e2e.ts';
import { RawKafka } from './kafka.ts';
import { type BenchPayload, benchContract, headerBytes, sizedPayload } from './payload.ts';
import { RawRedis } from './redis.ts';
import { packageVersion } from './results.ts';
import { runWindowed } from './stats.ts';

/** The contenders of each broker, raw JSON / raw omnibus bytes / omnibus, on the adapter's layout. */

const GROUP = 'bench';

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
      `producer (all): idempotent, acks=-1, one request in flight, no compression; raw: kafkajs ${packageVersion('kafkajs')}, sequential sendBatch of ${s.batch}; omnibus: producer=${adapter.producer} (the adapter's client), ${s.inFlight} bus.publish in flight, adapter coalesces into one request at a time (≤ ${adapter.maxBatchMessages} msgs / ${adapter.maxBatchBytes} B, linger ${adapter.lingerMs} ms)`,
      `consumer (all): fresh group, eachBatch, ${adapter.partitions} partitions consumed concurrently, offsets committed every ${adapter.commitIntervalMs} ms (raw: auto-resolve/auto-commit; omnibus: concurrency ${s.concurrency}, prefetch ${s.prefetch}, maxAttempts 1), session 10 s, heartbeat 1 s, maxWait 1 s`,
      messageLine(wire, payload),
    ],
    ceiling: {
      conditions: [
        `ceiling: Kafka's own org.apache.kafka.tools.ProducerPerformance (kafka-tools ${KAFKA_TOOLS_VERSION}, Java client, JVM started per run), run after each run's three contenders on a fresh topic of ${adapter.partitions} partitions: --num-records ${s.ceilingRecords || s.messages} --record-size ${s.size} --throughput -1, ${CEILING_PRODUCER_PROPS.join(' ')}, the Java client's defaults otherwise (linger.ms 0, batch.size 16384, max.in.flight 5); random ${s.size} B values, no key, no headers`,
        'its records/s is its own summary figure (from just before the first send, metadata fetch included, to the producer closed with every record acknowledged; JVM start and producer construction excluded); contenders: the publish phase of the table above; ratios: median of per-run ratios',
      ],
      async measure(classpath, tag, records) {
        const topic = `omnibus-bench-${id}-ceiling-${tag}`;
        created.topics.push(topic);
        await raw.createTopic(topic, adapter.partitions);
        const bootstrap = adapter.brokers.join(',');
        const timeoutMs = s.timeoutMs;
        return (
          await producerPerformance(classpath, { bootstrap, topic, records, recordSize: s.size, timeoutMs })
        ).rate;
      },
    },
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
  // The adapter's layout (adapters/redis README, "Entry fields"): body, headers as one JSON field.
  const wireFields: (string | Buffer)[] = [
    'b',
    Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength),
    'h',
    JSON.stringify(wire.headers),
  ];
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
