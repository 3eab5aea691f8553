// Smoke test of the real brokers with their raw clients (no omnibus code, no mocks): publish one
// message to a unique topic/queue and consume it back; the durable Redis has its AOF on; the Redis
// Cluster routes by hash slot. A broker whose URL the global setup could not find is skipped
// (teardown prints why). Restarts are in restart.test.ts.
import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import amqp from 'amqplib';
import { Cluster, Redis } from 'ioredis';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { brokerUrl, kafkaBrokers, redisTarget, sqsEndpoint } from '../src/index.ts';

const TIMEOUT = 60_000;
const unique = (prefix: string) => `omnibus-smoke-${prefix}-${Date.now()}-${randomUUID().slice(0, 8)}`;

const kafkaUrl = brokerUrl('kafka');
describe.skipIf(!kafkaUrl)('kafka (kafkajs)', () => {
  it('publishes and consumes one message', { timeout: TIMEOUT }, async () => {
    const kafka = new Kafka({
      clientId: 'omnibus-smoke',
      brokers: kafkaBrokers(kafkaUrl as string),
      logLevel: logLevel.WARN,
    });
    const topic = unique('topic');
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId: unique('group') });
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      const payload = { id: randomUUID(), text: 'hello kafka' };
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<{ key: string | undefined; value: unknown }>((resolve, reject) => {
        consumer
          .run({
            eachMessage: async ({ message }) => {
              resolve({
                key: message.key?.toString(),
                value: JSON.parse(message.value?.toString() ?? 'null'),
              });
            },
          })
          .catch(reject);
      });
      await producer.connect();
      await producer.send({ topic, messages: [{ key: payload.id, value: JSON.stringify(payload) }] });
      const got = await received;
      expect(got.key).toBe(payload.id);
      expect(got.value).toEqual(payload);
    } finally {
      await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  });
});

const amqpUrl = brokerUrl('amqp');
describe.skipIf(!amqpUrl)('rabbitmq (amqplib)', () => {
  it('publishes and consumes one message', { timeout: TIMEOUT }, async () => {
    const conn = await amqp.connect(amqpUrl as string);
    try {
      const ch = await conn.createChannel();
      const queue = unique('queue');
      await ch.assertQueue(queue, { durable: false, autoDelete: false, exclusive: false });
      const payload = { id: randomUUID(), text: 'hello rabbit' };
      const received = new Promise<{ body: unknown; type: string | undefined }>((resolve) => {
        void ch.consume(queue, (msg) => {
          if (!msg) return;
          ch.ack(msg);
          resolve({ body: JSON.parse(msg.content.toString()), type: msg.properties.contentType });
        });
      });
      ch.sendToQueue(queue, Buffer.from(JSON.stringify(payload)), { contentType: 'application/json' });
      const got = await received;
      expect(got.body).toEqual(payload);
      expect(got.type).toBe('application/json');
      await ch.deleteQueue(queue);
      await ch.close();
    } finally {
      await conn.close();
    }
  });
});

const redisUrl = brokerUrl('redis');
describe.skipIf(!redisUrl)('redis (ioredis)', () => {
  it('publishes and consumes one message (pub/sub and a stream)', { timeout: TIMEOUT }, async () => {
    const pub = new Redis(redisUrl as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const sub = new Redis(redisUrl as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const channel = unique('channel');
    const stream = unique('stream');
    try {
      await Promise.all([pub.connect(), sub.connect()]);
      const payload = { id: randomUUID(), text: 'hello redis' };
      const received = new Promise<unknown>((resolve) => {
        sub.on('message', (ch, message) => {
          if (ch === channel) resolve(JSON.parse(message));
        });
      });
      await sub.subscribe(channel);
      await pub.publish(channel, JSON.stringify(payload));
      expect(await received).toEqual(payload);

      await pub.xadd(stream, '*', 'payload', JSON.stringify(payload));
      const res = await pub.xread('COUNT', 1, 'STREAMS', stream, '0');
      const fields = res?.[0]?.[1]?.[0]?.[1] ?? [];
      expect(JSON.parse(fields[1] as string)).toEqual(payload);
      await pub.del(stream);
    } finally {
      sub.disconnect();
      pub.disconnect();
    }
  });
});

const sqsUrl = brokerUrl('sqs');
describe.skipIf(!sqsUrl)('sqs (@aws-sdk/client-sqs against ElasticMQ)', () => {
  it('publishes and consumes one message', { timeout: TIMEOUT }, async () => {
    const { endpoint, region } = sqsEndpoint(sqsUrl as string);
    const sqs = new SQSClient({
      endpoint,
      region,
      credentials: { accessKeyId: 'omnibus', secretAccessKey: 'omnibus' },
    });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: unique('queue') }));
    try {
      const payload = { id: randomUUID(), text: 'hello sqs' };
      await sqs.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: JSON.stringify(payload),
          MessageAttributes: { kind: { DataType: 'String', StringValue: 'smoke' } },
        }),
      );
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 10,
          MessageAttributeNames: ['All'],
        }),
      );
      const msg = out.Messages?.[0];
      expect(msg).toBeDefined();
      expect(JSON.parse(msg?.Body ?? 'null')).toEqual(payload);
      expect(msg?.MessageAttributes?.kind?.StringValue).toBe('smoke');
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: msg?.ReceiptHandle }));
    } finally {
      await sqs.send(new DeleteQueueCommand({ QueueUrl })).catch(() => {});
      sqs.destroy();
    }
  });
});

const durableUrl = brokerUrl('redisDurable');
describe.skipIf(!durableUrl)('durable redis (ioredis)', () => {
  it('logs every write to its append-only file and serves a stream', { timeout: TIMEOUT }, async () => {
    const redis = new Redis(durableUrl as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const stream = unique('stream');
    try {
      await redis.connect();
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      const id = await redis.xadd(stream, '*', 'payload', 'durable');
      const res = await redis.xrange(stream, '-', '+');
      expect(res).toEqual([[id, ['payload', 'durable']]]);
      await redis.del(stream);
    } finally {
      redis.disconnect();
    }
  });
});

const clusterUrl = brokerUrl('redisCluster');
describe.skipIf(!clusterUrl)('redis cluster (ioredis Cluster)', () => {
  const { nodes, ...auth } = redisTarget(clusterUrl ?? 'redis://127.0.0.1');
  const redisOptions = { ...auth, maxRetriesPerRequest: 1 };

  it('answers with three masters that serve all 16384 slots', { timeout: TIMEOUT }, async () => {
    const cluster = new Cluster(nodes, { lazyConnect: true, redisOptions });
    try {
      await cluster.connect();
      expect(cluster.nodes('master')).toHaveLength(3);
      const ranges = (await cluster.cluster('SLOTS')) as [number, number, ...unknown[]][];
      expect(ranges.reduce((n, [first, last]) => n + last - first + 1, 0)).toBe(16384);
    } finally {
      cluster.disconnect();
    }
  });

  it('puts keys with one hash tag in one slot, on one master; other keys spread', {
    timeout: TIMEOUT,
  }, async () => {
    const cluster = new Cluster(nodes, { lazyConnect: true, redisOptions });
    const direct = nodes.map((node) => new Redis({ ...node, ...redisOptions, lazyConnect: true }));
    const tag = `{${unique('order')}}`;
    const keys = [`${tag}:events`, `${tag}:state`, `${tag}:dedup`];
    try {
      await Promise.all([cluster.connect(), ...direct.map((r) => r.connect())]);
      const slots = await Promise.all(keys.map((k) => cluster.cluster('KEYSLOT', k)));
      expect(new Set(slots).size).toBe(1);
      // One slot: a multi-key command is accepted and served by one node.
      await cluster.mset(keys[0] as string, 'a', keys[1] as string, 'b', keys[2] as string, 'c');
      expect(await cluster.mget(...keys)).toEqual(['a', 'b', 'c']);
      // Exactly one master holds the keys; the other two redirect (MOVED) to it.
      const answers = await Promise.all(direct.map((r) => r.get(keys[0] as string).catch((e: Error) => e)));
      expect(answers.filter((a) => a === 'a')).toHaveLength(1);
      expect(answers.filter((a) => a instanceof Error && /^MOVED /.test(a.message))).toHaveLength(2);
      // Without the tag the same names hash to different slots, and the multi-key command is refused.
      const untagged = keys.map((k) => k.replace(tag, unique('plain')));
      const untaggedSlots = await Promise.all(untagged.map((k) => cluster.cluster('KEYSLOT', k)));
      expect(new Set(untaggedSlots).size).toBeGreaterThan(1);
      await expect(cluster.mget(...untagged)).rejects.toThrow(/CROSSSLOT|same slot/);
      await cluster.del(...keys);
    } finally {
      cluster.disconnect();
      for (const r of direct) r.disconnect();
    }
  });
});
