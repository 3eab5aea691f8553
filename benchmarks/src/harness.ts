import { connect as tcpConnect } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { type Bus, createAdmin, createBus, registerScheme } from '@omnibus/core';
import {
  createAdmin as createKafkaAdmin,
  createTransport as createKafkaTransport,
  type KafkaTransport,
  parseKafkaUrl,
} from '@omnibus/kafka';
import { createTransport as createRabbitMqTransport, type RabbitMqTransport } from '@omnibus/rabbitmq';
import * as redisAdapter from '@omnibus/redis';
import * as sqsAdapter from '@omnibus/sqs';
import { amqpTarget, RawAmqp } from './amqp.ts';
import { type CodecResult, runCodec } from './codec.ts';
import { RawKafka } from './kafka.ts';
import { benchContract, headerBytes, sizedPayload } from './payload.ts';
import { RawRedis } from './redis.ts';
import { type SdkSettings, sdkConsume, sdkPublish } from './sdk.ts';
import { RawSqs, SQS_BATCH } from './sqs.ts';
import { formatRate, formatRatio, median, runId } from './stats.ts';

export type BrokerKind = 'kafka' | 'amqp' | 'redis' | 'sqs' | 'memory';
export const BROKER_KINDS: readonly BrokerKind[] = ['kafka', 'amqp', 'redis', 'sqs', 'memory'];

/**
 * Events per run and metric on SQS unless `--messages` is given: ElasticMQ (H2 persistence) stores a few
 * thousand messages a second, so the broker default would take minutes per run.
 */
export const SQS_DEFAULT_MESSAGES = 2_000;
/** SendMessageBatch requests the SQS adapter keeps on their way to one queue (REQUESTS_PER_QUEUE in publish.ts). */
const SQS_ADAPTER_REQUESTS_PER_QUEUE = 8;
/**
 * SQS events are keyed, round-robin over this many keys (MessageGroupId = key): enough for 8 requests of
 * 10 distinct keys on their way at once. Keyless events would each be their own message group, and
 * ElasticMQ's FIFO receive slows down with the number of groups in a queue (a few hundred msg/s at
 * 2000 groups), which would measure ElasticMQ rather than either client.
 */
export const SQS_KEYS = 100;
const sqsKey = (index: number) => `key-${index % SQS_KEYS}`;

export interface BenchOptions {
  /** Events per run and metric. */
  messages: number;
  /** Events per run and metric on SQS. @default messages */
  sqsMessages?: number;
  /** Runs per metric (the table shows the median). */
  runs: number;
  /** Encoded event body in bytes (Avro single-object; CloudEvents headers come on top). */
  size: number;
  /** SDK publishes kept in flight. */
  inFlight: number;
  /** Raw kafkajs messages per `sendBatch`. */
  batch: number;
  /** SDK subscription concurrency. */
  concurrency: number;
  /** Give up on one publish or consume run after this long. */
  timeoutMs: number;
  /** Operations per codec sample. */
  codecOps: number;
  /** Broker URLs (credentials are never printed). */
  urls: { kafka: string; amqp: string; redis: string; sqs: string };
  /** Progress lines (stderr in the CLI); silent by default. */
  log?: (line: string) => void;
}

export interface MetricRow {
  name: string;
  /** msg/s per run; empty when there is no raw counterpart. */
  raw: number[];
  sdk: number[];
  /** msg/s per run of the raw JSON contender (SQS), when the table has one. */
  json?: number[];
}

export interface BrokerReport {
  broker: BrokerKind;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed (never contains credentials). */
  note?: string;
  conditions: string[];
  rows: MetricRow[];
}

const GROUP = 'bench';

/** The broker accepted no working connection: reported as skipped, not as a failure of the harness. */
class Unavailable extends Error {}

async function connecting<T>(what: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    throw new Unavailable(`${what}: ${describe(error)}`);
  }
}

// The core resolves adapters from the application's directory; `pnpm bench` runs from the repo root,
// so hand it this package's adapters directly.
registerScheme('kafka', { createTransport: createKafkaTransport, createAdmin: createKafkaAdmin });
registerScheme('amqp', createRabbitMqTransport);
registerScheme('amqps', createRabbitMqTransport);
registerScheme('redis', redisAdapter);
registerScheme('rediss', redisAdapter);
registerScheme('sqs', sqsAdapter);

/** Runs one broker's benchmark; a broker that is down or fails yields a report saying so, never a throw. */
export async function runBroker(broker: BrokerKind, options: BenchOptions): Promise<BrokerReport> {
  const secrets = secretsOf(options);
  try {
    if (broker === 'memory') return await runMemory(options);
    const address =
      broker === 'kafka'
        ? splitHostPort(parseKafkaUrl(options.urls.kafka).brokers[0] ?? '127.0.0.1:9092', 9092)
        : broker === 'redis'
          ? splitHostPort(redisAdapter.parseRedisUrl(options.urls.redis).hosts[0]!, 6379)
          : broker === 'sqs'
            ? sqsAddress(options.urls.sqs)
            : ([amqpTarget(options.urls.amqp).hostname, amqpTarget(options.urls.amqp).port] as const);
    const down = await probe(address[0], address[1]);
    if (down) {
      const note = `${broker} at ${address[0]}:${address[1]} is unreachable (${down}) — skipped`;
      return { broker, status: 'skipped', note, conditions: [], rows: [] };
    }
    if (broker === 'kafka') return await runKafka(options);
    if (broker === 'redis') return await runRedis(options);
    if (broker === 'sqs') return await runSqs(options);
    return await runAmqp(options);
  } catch (error) {
    if (error instanceof Unavailable) {
      const note = `${broker} is unavailable — skipped (${redact(error.message, secrets)})`;
      return { broker, status: 'skipped', note, conditions: [], rows: [] };
    }
    return {
      broker,
      status: 'failed',
      note: `${broker} benchmark failed: ${redact(describe(error), secrets)}`,
      conditions: [],
      rows: [],
    };
  }
}

function sdkSettings(o: BenchOptions): SdkSettings {
  return { inFlight: o.inFlight, concurrency: o.concurrency, timeoutMs: o.timeoutMs };
}

const startedAt = performance.now();
const elapsed = () => `${((performance.now() - startedAt) / 1000).toFixed(1)} s`;

/** Fills in `common` conditions shared by every broker table. */
function messageConditions(bus: Bus, o: BenchOptions, withRaw = true, key = 'no key'): string[] {
  const payload = sizedPayload(o.size);
  const wire = bus.encode(benchContract('omnibus.bench.sizing'), payload);
  const headers = headerBytes(wire.headers);
  return [
    `message: ${wire.body.length} B Avro body + ${headers} B CloudEvents headers (${Object.keys(wire.headers).length} headers, writer schema embedded) = ${wire.body.length + headers} B; ${key}${withRaw ? '; raw sends the identical body and headers' : ''}`,
    withRaw
      ? `${o.messages} messages per run, median of ${o.runs} runs, raw and SDK alternate (raw first on odd runs), fresh topic/queues and group per run`
      : `${o.messages} messages per run, median of ${o.runs} runs, fresh topic and group per run`,
    `consume rate: N / (consumer ready → N-th delivery); connect and group join excluded, first fetch included; SDK handler concurrency ${o.concurrency}, maxAttempts 1${withRaw ? '; raw consumers only count and ack (no decoding)' : ''}`,
  ];
}

async function runMemory(o: BenchOptions): Promise<BrokerReport> {
  const id = runId();
  const bus = await createBus({ url: `memory://omnibus-bench-${id}`, source: 'urn:omnibus:bench' });
  const publish: MetricRow = { name: 'publish (msg/s)', raw: [], sdk: [] };
  const consume: MetricRow = { name: 'publish N, then consume N (msg/s)', raw: [], sdk: [] };
  try {
    const payload = sizedPayload(o.size);
    for (let r = 0; r < o.runs; r++) {
      const contract = benchContract(`omnibus-bench-${id}-sdk-${r}`);
      await bus.provision(contract, { groups: [GROUP] });
      publish.sdk.push(await sdkPublish(bus, contract, payload, o.messages, sdkSettings(o)));
      consume.sdk.push(await sdkConsume(bus, contract, GROUP, o.messages, sdkSettings(o)));
      o.log?.(`memory run ${r + 1}/${o.runs} done (${elapsed()})`);
    }
    return {
      broker: 'memory',
      status: 'ok',
      conditions: [
        ...messageConditions(bus, o, false),
        `memory://: in-process broker, 16 partitions, no raw counterpart; SDK publishes in flight ${o.inFlight}`,
      ],
      rows: [publish, consume],
    };
  } finally {
    await bus.close();
  }
}

async function runKafka(o: BenchOptions): Promise<BrokerReport> {
  const id = runId();
  const url = o.urls.kafka.includes('logLevel=')
    ? o.urls.kafka
    : `${o.urls.kafka}${o.urls.kafka.includes('?') ? '&' : '?'}logLevel=error`;
  const bus = await connecting('SDK connect', () => createBus({ url, source: 'urn:omnibus:bench' }));
  const adapter = (bus.transport as KafkaTransport).options;
  const raw = await connecting('kafkajs connect', () => RawKafka.connect(adapter.brokers)).catch(
    async (error) => {
      await bus.close();
      throw error;
    },
  );
  const publish: MetricRow = { name: 'publish (msg/s)', raw: [], sdk: [] };
  const consume: MetricRow = { name: 'publish N, then consume N (msg/s)', raw: [], sdk: [] };
  const rawSettings = { batch: o.batch, partitions: adapter.partitions, timeoutMs: o.timeoutMs };
  const payload = sizedPayload(o.size);
  const topics: string[] = [];
  const groups: string[] = [];
  try {
    for (let r = 0; r < o.runs; r++) {
      const rawStep = async () => {
        const topic = `omnibus-bench-${id}-raw-${r}`;
        const wire = bus.encode(benchContract(topic), payload);
        const group = `${GROUP}-${id}-raw-${r}`;
        topics.push(topic);
        groups.push(group);
        await raw.createTopic(topic, adapter.partitions);
        publish.raw.push(await raw.publish(topic, wire, o.messages, rawSettings));
        consume.raw.push(await raw.consume(topic, group, o.messages, rawSettings));
      };
      const sdkStep = async () => {
        const contract = benchContract(`omnibus-bench-${id}-sdk-${r}`);
        const group = `${GROUP}-${id}-sdk-${r}`;
        topics.push(contract.topic, `${contract.topic}.dlq`);
        groups.push(group); // never the shared 'dead-letters' group: other topics use it too
        await bus.provision(contract, { groups: [group] });
        publish.sdk.push(await sdkPublish(bus, contract, payload, o.messages, sdkSettings(o)));
        consume.sdk.push(await sdkConsume(bus, contract, group, o.messages, sdkSettings(o)));
      };
      for (const step of r % 2 === 0 ? [rawStep, sdkStep] : [sdkStep, rawStep]) await step();
      o.log?.(`kafka run ${r + 1}/${o.runs} done (${elapsed()})`);
    }
    const prefetch = Math.max(16, o.concurrency * 4);
    return {
      broker: 'kafka',
      status: 'ok',
      conditions: [
        ...messageConditions(bus, o),
        `broker: Kafka at ${adapter.brokers.join(', ')}`,
        `producer (both): kafkajs 2.2.4, acks=-1, idempotent, maxInFlightRequests=1, no compression, ${adapter.partitions} partitions, replication factor = broker default`,
        `raw publish: sequential sendBatch of ${o.batch} messages; SDK: ${o.inFlight} bus.publish in flight, adapter coalesces into sendBatch (≤ ${adapter.maxBatchMessages} msgs / ${adapter.maxBatchBytes} B, linger ${adapter.lingerMs} ms)`,
        `consume: raw eachBatch (auto-resolve, auto-commit); SDK eachBatch adapter, maxInFlight ${prefetch}, commit every ${adapter.commitIntervalMs} ms; both session 10 s, heartbeat 1 s, maxWait 1 s`,
      ],
      rows: [publish, consume],
    };
  } finally {
    // Topics are deleted only once both producers are gone: kafkajs keeps refreshing metadata for every
    // topic a producer ever wrote to, and a deleted one fails all of its later sends.
    await bus.close();
    await raw.close({ deleteTopics: topics, deleteGroups: groups });
  }
}

async function runAmqp(o: BenchOptions): Promise<BrokerReport> {
  const id = runId();
  const bus = await connecting('SDK connect', () =>
    createBus({
      url: `${o.urls.amqp}${o.urls.amqp.includes('?') ? '&' : '?'}connectTimeout=5000`,
      source: 'urn:omnibus:bench',
    }),
  );
  const adapter = (bus.transport as RabbitMqTransport).options;
  const target = amqpTarget(o.urls.amqp);
  const raw = await connecting('amqplib connect', () => RawAmqp.connect(target)).catch(async (error) => {
    await bus.close();
    throw error;
  });
  const publish: MetricRow = { name: 'publish (msg/s)', raw: [], sdk: [] };
  const consume: MetricRow = { name: 'publish N, then consume N (msg/s)', raw: [], sdk: [] };
  const prefetch = Math.min(65_535, adapter.prefetch ?? Math.max(16, o.concurrency * 4));
  const rawSettings = {
    confirmWindow: adapter.confirmWindow,
    partitions: adapter.partitions,
    prefetch,
    timeoutMs: o.timeoutMs,
  };
  const payload = sizedPayload(o.size);
  try {
    for (let r = 0; r < o.runs; r++) {
      const rawStep = async () => {
        const topic = `omnibus-bench-${id}-raw-${r}`;
        const wire = bus.encode(benchContract(topic), payload);
        await raw.declare(topic, GROUP, adapter.partitions, adapter.queueType);
        try {
          publish.raw.push(await raw.publish(topic, wire, o.messages, rawSettings));
          consume.raw.push(await raw.consume(topic, GROUP, o.messages, rawSettings));
        } finally {
          await raw.cleanup(topic, GROUP, adapter.partitions);
        }
      };
      const sdkStep = async () => {
        const contract = benchContract(`omnibus-bench-${id}-sdk-${r}`);
        await bus.provision(contract, { groups: [GROUP] });
        try {
          publish.sdk.push(await sdkPublish(bus, contract, payload, o.messages, sdkSettings(o)));
          consume.sdk.push(await sdkConsume(bus, contract, GROUP, o.messages, sdkSettings(o)));
        } finally {
          await raw.cleanup(contract.topic, GROUP, adapter.partitions);
        }
      };
      for (const step of r % 2 === 0 ? [rawStep, sdkStep] : [sdkStep, rawStep]) await step();
      o.log?.(`amqp run ${r + 1}/${o.runs} done (${elapsed()})`);
    }
    return {
      broker: 'amqp',
      status: 'ok',
      conditions: [
        ...messageConditions(bus, o),
        `broker: ${raw.server} at ${target.hostname}:${target.port} (vhost ${target.vhost})`,
        `topology (both): durable direct exchange per topic, ${adapter.partitions} durable ${adapter.queueType} queues (single-active-consumer), unkeyed messages round-robin over them`,
        `publish (both): confirm channel, persistent + mandatory, window ${adapter.confirmWindow} unconfirmed, waits for 'drain' on back-pressure; SDK: ${o.inFlight} bus.publish in flight`,
        `consume (both): one channel per partition queue, prefetch ${prefetch} each, manual ack per message`,
      ],
      rows: [publish, consume],
    };
  } finally {
    await bus.close();
    await raw.close();
  }
}

async function runRedis(o: BenchOptions): Promise<BrokerReport> {
  const id = runId();
  const bus = await connecting('SDK connect', () =>
    createBus({ url: o.urls.redis, source: 'urn:omnibus:bench' }),
  );
  const adapter = (bus.transport as redisAdapter.RedisTransport).options;
  const raw = await connecting('ioredis connect', () => RawRedis.connect(o.urls.redis)).catch(
    async (error) => {
      await bus.close();
      throw error;
    },
  );
  const admin = await redisAdapter.createAdmin(new URL(o.urls.redis), o.urls.redis);
  const publish: MetricRow = { name: 'publish (msg/s)', raw: [], sdk: [] };
  const consume: MetricRow = { name: 'publish N, then consume N (msg/s)', raw: [], sdk: [] };
  const prefetch = Math.max(16, o.concurrency * 4);
  const rawSettings = {
    batch: o.batch,
    partitions: adapter.partitions,
    // COUNT is per stream: at most `prefetch` entries per XREADGROUP over all streams, the SDK's window.
    readCount: Math.max(1, Math.floor(prefetch / adapter.partitions)),
    timeoutMs: o.timeoutMs,
  };
  const payload = sizedPayload(o.size);
  try {
    for (let r = 0; r < o.runs; r++) {
      const rawStep = async () => {
        const topic = `omnibus-bench-${id}-raw-${r}`;
        const wire = bus.encode(benchContract(topic), payload);
        await raw.createGroup(topic, GROUP, adapter.partitions);
        try {
          publish.raw.push(await raw.publish(topic, wire, o.messages, rawSettings));
          consume.raw.push(await raw.consume(topic, GROUP, o.messages, rawSettings));
        } finally {
          await raw.deleteTopic(topic, adapter.partitions);
        }
      };
      const sdkStep = async () => {
        const contract = benchContract(`omnibus-bench-${id}-sdk-${r}`);
        await bus.provision(contract, { groups: [GROUP] });
        try {
          publish.sdk.push(await sdkPublish(bus, contract, payload, o.messages, sdkSettings(o)));
          consume.sdk.push(await sdkConsume(bus, contract, GROUP, o.messages, sdkSettings(o)));
        } finally {
          await admin.deleteTopic(contract.topic, [GROUP]);
          await admin.deleteTopic(`${contract.topic}.dlq`, ['dead-letters']);
        }
      };
      for (const step of r % 2 === 0 ? [rawStep, sdkStep] : [sdkStep, rawStep]) await step();
      o.log?.(`redis run ${r + 1}/${o.runs} done (${elapsed()})`);
    }
    return {
      broker: 'redis',
      status: 'ok',
      conditions: [
        ...messageConditions(bus, o),
        `broker: Redis at ${adapter.hosts.join(', ')}${adapter.cluster ? ' (cluster)' : ''}; ${adapter.partitions} partition streams per topic, one consumer group created on each before publishing`,
        `publish: raw sequential pipelines of ${o.batch} XADD (round-robin over the streams); SDK: ${o.inFlight} bus.publish in flight, one XADD each, ioredis auto-pipelining`,
        `consume: raw one XREADGROUP over all ${adapter.partitions} streams with COUNT ${Math.max(1, Math.floor(prefetch / adapter.partitions))} each (≤ ${prefetch} entries, the SDK's window), BLOCK 1 s, then one pipelined XACK per stream; SDK: a lease per partition, fenced XREADGROUP scripts sharing maxInFlight ${prefetch}, fenced XACK scripts batched per partition`,
      ],
      rows: [publish, consume],
    };
  } finally {
    await bus.close();
    await admin.close();
    await raw.close();
  }
}

async function runSqs(options: BenchOptions): Promise<BrokerReport> {
  const o: BenchOptions = { ...options, messages: options.sqsMessages ?? options.messages };
  const id = runId();
  const bus = await connecting('SDK connect', () =>
    createBus({ url: o.urls.sqs, source: 'urn:omnibus:bench' }),
  );
  const adapter = (bus.transport as sqsAdapter.SqsTransport).options;
  if (!adapter.fifo) {
    await bus.close();
    throw new Error(
      'the sqs benchmark compares FIFO queues (the adapter default): drop fifo=false from SQS_URL',
    );
  }
  let raw: RawSqs;
  let admin: Awaited<ReturnType<typeof createAdmin>>;
  try {
    raw = await connecting('@aws-sdk/client-sqs connect', () => RawSqs.connect(adapter));
    admin = await createAdmin(o.urls.sqs);
  } catch (error) {
    await bus.close();
    throw error;
  }
  const publish: MetricRow = { name: 'publish (msg/s)', raw: [], sdk: [], json: [] };
  const consume: MetricRow = { name: 'publish N, then consume N (msg/s)', raw: [], sdk: [], json: [] };
  const prefetch = Math.max(16, o.concurrency * 4);
  // As the adapter's subscription: `receivers` long polls, no more than the core's window holds.
  const receivers = Math.max(1, Math.min(adapter.receivers, Math.ceil(prefetch / SQS_BATCH)));
  const sdk = { ...sdkSettings(o), key: sqsKey };
  const rawSettings = {
    requests: SQS_ADAPTER_REQUESTS_PER_QUEUE,
    receivers,
    waitTimeSeconds: adapter.waitTimeSeconds,
    visibilitySeconds: adapter.visibilityTimeoutMs / 1_000,
    timeoutMs: o.timeoutMs,
  };
  const payload = sizedPayload(o.size);
  try {
    for (let r = 0; r < o.runs; r++) {
      const rawStep = async () => {
        const topic = `omnibus-bench-${id}-raw-${r}`;
        const wire = bus.encode(benchContract(topic), payload);
        const url = await raw.createQueue(
          sqsAdapter.queueName(adapter.prefix, topic, GROUP, true),
          rawSettings.visibilitySeconds,
        );
        try {
          publish.raw.push(await raw.publish(url, wire, sqsKey, o.messages, rawSettings));
          consume.raw.push(await raw.consume(url, o.messages, rawSettings));
        } finally {
          await raw.deleteQueue(url);
        }
      };
      const sdkStep = async () => {
        const contract = benchContract(`omnibus-bench-${id}-sdk-${r}`);
        await bus.provision(contract, { groups: [GROUP] });
        try {
          publish.sdk.push(await sdkPublish(bus, contract, payload, o.messages, sdk));
          consume.sdk.push(await sdkConsume(bus, contract, GROUP, o.messages, sdk));
        } finally {
          await admin.deleteTopic(contract.topic, [GROUP]);
          await admin.deleteTopic(`${contract.topic}.dlq`, ['dead-letters']);
        }
      };
      // What a competent engineer sends without omnibus: the JSON text as the body, no attributes.
      const jsonStep = async () => {
        const topic = `omnibus-bench-${id}-json-${r}`;
        const url = await raw.createQueue(
          sqsAdapter.queueName(adapter.prefix, topic, GROUP, true),
          rawSettings.visibilitySeconds,
        );
        try {
          const body = (_: number) => ({ MessageBody: JSON.stringify(payload) });
          publish.json!.push(await raw.publishEntries(url, body, sqsKey, o.messages, rawSettings));
          consume.json!.push(
            await raw.consume(url, o.messages, rawSettings, { attributes: false, body: JSON.parse }),
          );
        } finally {
          await raw.deleteQueue(url);
        }
      };
      // raw omnibus bytes and SDK alternate as they always did; raw JSON goes first, then last.
      const order = r % 2 === 0 ? [jsonStep, rawStep, sdkStep] : [sdkStep, rawStep, jsonStep];
      for (const step of order) await step();
      o.log?.(`sqs run ${r + 1}/${o.runs} done (${elapsed()})`);
    }
    return {
      broker: 'sqs',
      status: 'ok',
      conditions: [
        ...messageConditions(bus, o, true, `keys: ${SQS_KEYS} round-robin (MessageGroupId = key)`),
        `broker: SQS API at ${adapter.endpoint ?? `AWS ${adapter.region ?? ''}`.trim()} (region ${adapter.region ?? 'SDK default'}); @aws-sdk/client-sqs on both sides, the adapter's client settings`,
        `queues (both): one FIFO queue per topic and group (the adapter's name and attributes: high-throughput FIFO, visibility ${rawSettings.visibilitySeconds} s; the SDK's also has a redrive policy to the topic's dead-letter queue), deleted after each run`,
        `wire (both): Avro body in base64, ${Object.keys(bus.encode(benchContract('omnibus.bench.sizing'), payload).headers).length} CloudEvents headers as String message attributes + "omnibus" attribute {k: key, o: header order}; MessageDeduplicationId per message (SDK: hash of key and event id; raw: a counter)`,
        `publish (both keep each key's order: no two requests with one key on their way): raw SendMessageBatch of ${SQS_BATCH} consecutive events, ≤ ${rawSettings.requests} requests in flight; SDK: ${o.inFlight} bus.publish in flight, adapter coalesces into SendMessageBatch of ≤ ${SQS_BATCH} per queue, ${SQS_ADAPTER_REQUESTS_PER_QUEUE} requests in flight (≤ ${adapter.maxConcurrency} per transport)`,
        `raw JSON: the same queue layout and client, the payload as JSON text in MessageBody (${Buffer.byteLength(JSON.stringify(payload))} B), no message attributes, MessageGroupId = key, MessageDeduplicationId a counter; the same batches, requests in flight and per-key order on publish; the same long polls on consume without asking for attributes, JSON.parse of every body, one DeleteMessageBatch per received batch; it runs first on odd runs and last on even ones; SDK/raw JSON is the median of per-run ratios`,
        `consume (both): ${receivers} ReceiveMessage long polls open (≤ ${SQS_BATCH} messages, WaitTimeSeconds ${rawSettings.waitTimeSeconds}, all attributes), the next receive does not wait for acks; raw: one DeleteMessageBatch per received batch at once; SDK: acks after the handler, those of one event-loop turn batched into one DeleteMessageBatch (an ack is recorded once queued: a key's next event does not wait for the delete) (maxInFlight ${prefetch})`,
      ],
      rows: [publish, consume],
    };
  } finally {
    await bus.close();
    await admin.close();
    raw.close();
  }
}

export { runCodec };

/** The machine and runtime, printed above the tables. */
export function environmentLines(): string[] {
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return [
    `Node ${process.version} on ${process.platform}/${process.arch}, ${availableParallelism()} cores (${cpu}), load average ${load}`,
  ];
}

/** A plain-text table, columns padded to their widest cell; numbers right-aligned. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

const runsText = (values: number[]) =>
  values.length === 0 ? '—' : values.map((v) => formatRate(v)).join(', ');

export function formatBrokerReport(report: BrokerReport): string {
  const title = `## ${report.broker}`;
  if (report.status !== 'ok') return `${title}\n${report.note}`;
  if (report.rows.some((r) => (r.json?.length ?? 0) > 0)) return formatWithJson(report);
  const hasRaw = report.rows.some((r) => r.raw.length > 0);
  const header = hasRaw
    ? ['metric', 'raw driver', 'SDK', 'SDK/raw', 'raw runs', 'SDK runs']
    : ['metric', 'raw driver', 'SDK', 'SDK/raw', 'SDK runs'];
  const rows = report.rows.map((row) => {
    const raw = row.raw.length > 0 ? median(row.raw) : undefined;
    const sdk = median(row.sdk);
    const cells = [
      row.name,
      raw === undefined ? 'n/a' : formatRate(raw),
      formatRate(sdk),
      formatRatio(sdk, raw),
    ];
    return hasRaw ? [...cells, runsText(row.raw), runsText(row.sdk)] : [...cells, runsText(row.sdk)];
  });
  return [title, ...report.conditions.map((c) => `- ${c}`), '', renderTable(header, rows)].join('\n');
}

/** A broker table with a raw JSON contender too (SQS): its rate and the SDK's ratio to it come first. */
function formatWithJson(report: BrokerReport): string {
  const header = [
    'metric',
    'raw JSON',
    'raw driver',
    'SDK',
    'SDK/raw JSON',
    'SDK/raw',
    'raw JSON runs',
    'raw runs',
    'SDK runs',
  ];
  const rows = report.rows.map((row) => {
    const json = row.json ?? [];
    const raw = median(row.raw);
    const sdk = median(row.sdk);
    const perRun = median(
      json.flatMap((j, i) => (j > 0 && row.sdk[i] !== undefined ? [row.sdk[i]! / j] : [])),
    );
    return [
      row.name,
      formatRate(median(json)),
      formatRate(raw),
      formatRate(sdk),
      Number.isFinite(perRun) ? `${perRun.toFixed(2)}×` : '—',
      formatRatio(sdk, raw),
      runsText(json),
      runsText(row.raw),
      runsText(row.sdk),
    ];
  });
  return [
    `## ${report.broker}`,
    ...report.conditions.map((c) => `- ${c}`),
    '',
    renderTable(header, rows),
  ].join('\n');
}

export function formatCodecReport(c: CodecResult, size: number): string {
  const row = (name: string, avro: number, json: number) => [
    name,
    formatRate(avro),
    formatRate(json),
    formatRatio(avro, json),
  ];
  const rows = [
    row('encode (ops/s)', c.avroEncode, c.jsonEncode),
    row('decode (ops/s)', c.avroDecode, c.jsonDecode),
    row('encode + validate (ops/s): JSON side zod.parse + JSON.stringify', c.avroEncode, c.jsonZodEncode),
    row('decode + validate (ops/s): JSON side JSON.parse + zod.parse', c.avroDecode, c.jsonZodDecode),
    ['bus.encode: validate + Avro + CloudEvents headers (ops/s)', formatRate(c.envelopeEncode), 'n/a', '—'],
  ];
  return [
    '## codec (no broker)',
    `- same object (--size ${size}): Avro single-object ${c.avroBytes} B, JSON ${c.jsonBytes} B; ${c.ops} ops per sample, median of ${c.runs}, contenders alternate`,
    '- Avro = contract.encode (validation + avsc + 10-byte header) / contract.decode (header + resolver + validation + avsc); JSON = Buffer.from(JSON.stringify(o)) / JSON.parse(buf.toString()); "+ validate" rows add a zod 4 object schema of the same record (built once)',
    '',
    renderTable(['operation', 'contract (Avro)', 'JSON', 'Avro/JSON'], rows),
  ].join('\n');
}

/** Host and port of an sqs:// URL's endpoint (AWS: the regional endpoint on 443). */
function sqsAddress(url: string): [string, number] {
  const options = sqsAdapter.parseSqsUrl(url);
  if (options.endpoint === undefined) return [`sqs.${options.region ?? 'us-east-1'}.amazonaws.com`, 443];
  const endpoint = new URL(options.endpoint);
  return [
    endpoint.hostname.replace(/^\[(.*)\]$/, '$1'),
    Number(endpoint.port) || (endpoint.protocol === 'https:' ? 443 : 80),
  ];
}

function splitHostPort(hostPort: string, fallbackPort: number): [string, number] {
  const at = hostPort.lastIndexOf(':');
  if (at < 0) return [hostPort, fallbackPort];
  return [hostPort.slice(0, at).replace(/^\[(.*)\]$/, '$1'), Number(hostPort.slice(at + 1)) || fallbackPort];
}

/** Resolves undefined when a TCP connection opens within 2 s, else the reason. */
function probe(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const finish = (reason: string | undefined) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(2_000, () => finish('no answer within 2 s'));
    socket.once('connect', () => finish(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  });
}

function secretsOf(o: BenchOptions): string[] {
  const secrets: string[] = [];
  for (const url of [o.urls.amqp, o.urls.kafka, o.urls.redis, o.urls.sqs]) {
    const match = /^[a-z]+:\/\/[^:/@]*:([^@/]*)@/i.exec(url);
    if (match?.[1]) secrets.push(match[1], decodeURIComponent(match[1]));
  }
  return secrets.filter((s) => s.length > 0);
}

function redact(text: string, secrets: string[]): string {
  let out = text.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
  for (const s of secrets) out = out.replaceAll(s, '***');
  return out;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
