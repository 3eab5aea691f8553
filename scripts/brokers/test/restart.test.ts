// `brokers.sh restart` keeps data: what the durable Redis and ElasticMQ held before the restart they
// still hold after it. These restart brokers every test run on the machine shares, so they run only
// where BROKERS_ALLOW_RESTART names them (comma list of redis,sqs or `all`; .ci/run sets it), and
// only against the brokers `pnpm brokers:up` runs (same OMNIBUS_RUN_DIR and port knobs).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { brokerUrl, sqsEndpoint } from '../src/index.ts';
import { probeSqs } from '../src/probe.ts';

const BROKERS_SH = fileURLToPath(new URL('../brokers.sh', import.meta.url));
const RUN_DIR = process.env.OMNIBUS_RUN_DIR || '/tmp/omnibus-brokers';
const RESTART_TIMEOUT = 180_000;

function restartAllowed(target: 'redis' | 'sqs'): boolean {
  const allowed = (process.env.BROKERS_ALLOW_RESTART ?? '').split(',').map((s) => s.trim());
  return allowed.includes('all') || allowed.includes(target);
}

/** `brokers.sh restart <target>`: resolves once the broker serves again, rejects with its stderr. */
async function restart(target: 'redis' | 'sqs'): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('bash', [BROKERS_SH, 'restart', target], {
      timeout: RESTART_TIMEOUT,
    });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`brokers.sh restart ${target} failed: ${e.stderr?.trim() || e.message}`);
  }
}

const pidOf = (file: string) => fs.readFileSync(path.join(RUN_DIR, file), 'utf8').trim();
const unique = (prefix: string) => `omnibus-restart-${prefix}-${Date.now()}-${randomUUID().slice(0, 8)}`;

const durableUrl = brokerUrl('redisDurable');
describe.skipIf(!durableUrl || !restartAllowed('redis'))(
  'durable redis across brokers:restart redis (BROKERS_ALLOW_RESTART=redis)',
  () => {
    it('keeps a stream and a key written before the restart', { timeout: RESTART_TIMEOUT }, async () => {
      const stream = unique('stream');
      const key = unique('key');
      const before = new Redis(durableUrl as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await before.connect();
      const write = before.pipeline();
      for (let i = 0; i < 1000; i++) write.xadd(stream, '*', 'n', String(i));
      write.set(key, 'kept');
      await write.exec();
      const runIdBefore = /run_id:(\w+)/.exec(await before.info('server'))?.[1];
      before.disconnect();

      await restart('redis');

      const after = new Redis(durableUrl as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await after.connect();
        // A new run id: the Redis at this URL really is a new process.
        expect(/run_id:(\w+)/.exec(await after.info('server'))?.[1]).not.toBe(runIdBefore);
        expect(await after.xlen(stream)).toBe(1000);
        const last = await after.xrevrange(stream, '+', '-', 'COUNT', 1);
        expect(last[0]?.[1]).toEqual(['n', '999']);
        expect(await after.get(key)).toBe('kept');
        await after.del(stream, key);
      } finally {
        after.disconnect();
      }
    });
  },
);

const sqsUrl = brokerUrl('sqs');
describe.skipIf(!sqsUrl || !restartAllowed('sqs'))(
  'elasticmq across brokers:restart sqs (BROKERS_ALLOW_RESTART=sqs)',
  () => {
    const { endpoint, region } = sqsEndpoint(sqsUrl ?? 'sqs://127.0.0.1');
    const sqs = new SQSClient({
      endpoint,
      region,
      credentials: { accessKeyId: 'omnibus', secretAccessKey: 'omnibus' },
    });
    const queues: string[] = [];

    // Other test files use this ElasticMQ next: never leave it down, even when the test failed.
    afterAll(async () => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await probeSqs(sqsUrl as string);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`ElasticMQ not serving after the restart test: ${err}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      await Promise.allSettled(queues.map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))));
      sqs.destroy();
    }, 90_000);

    const receive = async (QueueUrl: string, max: number, waitSeconds = 1): Promise<Message[]> =>
      (
        await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl,
            MaxNumberOfMessages: max,
            WaitTimeSeconds: waitSeconds,
            VisibilityTimeout: 60,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        )
      ).Messages ?? [];

    it('keeps queues with their attributes, waiting and in-flight messages, and receipt handles', {
      timeout: RESTART_TIMEOUT,
    }, async () => {
      const create = async (QueueName: string, Attributes: Record<string, string>) => {
        const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName, Attributes }));
        queues.push(QueueUrl as string);
        return QueueUrl as string;
      };
      const config = fs.readFileSync(path.join(RUN_DIR, 'elasticmq/elasticmq.conf'), 'utf8');
      if (!/^messages-storage/m.test(config)) {
        throw new Error(
          'the ElasticMQ under test keeps messages in memory only (started by an older brokers.sh or with ' +
            'ELASTICMQ_PERSISTENCE=off): run `pnpm brokers:restart sqs` once to restart it with persistence',
        );
      }
      const standard = await create(unique('std'), { VisibilityTimeout: '45' });
      const fifo = await create(`${unique('fifo')}.fifo`, {
        FifoQueue: 'true',
        ContentBasedDeduplication: 'true',
      });
      for (const body of ['waiting-1', 'waiting-2', 'in-flight-acked', 'in-flight-released']) {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: standard,
            MessageBody: body,
            MessageAttributes: { kind: { DataType: 'String', StringValue: body } },
          }),
        );
      }
      await sqs.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: 'fifo-1', MessageGroupId: 'g' }));
      // Receive until both in-flight messages are held (receive order of a standard queue is loose).
      const inFlight = new Map<string, Message>();
      const deadline = Date.now() + 20_000;
      while (inFlight.size < 2 && Date.now() < deadline) {
        for (const m of await receive(standard, 1)) {
          if (m.Body?.startsWith('in-flight')) inFlight.set(m.Body, m);
          else
            await sqs.send(
              new ChangeMessageVisibilityCommand({
                QueueUrl: standard,
                ReceiptHandle: m.ReceiptHandle,
                VisibilityTimeout: 0,
              }),
            );
        }
      }
      expect([...inFlight.keys()].sort()).toEqual(['in-flight-acked', 'in-flight-released']);
      const pidBefore = pidOf('elasticmq/elasticmq.pid');

      await restart('sqs');

      expect(pidOf('elasticmq/elasticmq.pid')).not.toBe(pidBefore);
      const attributes = async (QueueUrl: string) =>
        (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }))).Attributes ??
        {};
      expect(await attributes(standard)).toMatchObject({
        VisibilityTimeout: '45',
        ApproximateNumberOfMessages: '2',
        ApproximateNumberOfMessagesNotVisible: '2',
      });
      expect(await attributes(fifo)).toMatchObject({ FifoQueue: 'true', ContentBasedDeduplication: 'true' });

      // Waiting messages come back with their attributes; in-flight ones stay in flight.
      const waiting = [...(await receive(standard, 10)), ...(await receive(standard, 10))];
      expect(waiting.map((m) => m.Body).sort()).toEqual(['waiting-1', 'waiting-2']);
      expect(waiting.map((m) => m.MessageAttributes?.kind?.StringValue).sort()).toEqual([
        'waiting-1',
        'waiting-2',
      ]);
      // Receipt handles from before the restart still work: one is acked, one released for redelivery.
      const acked = inFlight.get('in-flight-acked') as Message;
      const released = inFlight.get('in-flight-released') as Message;
      await sqs.send(new DeleteMessageCommand({ QueueUrl: standard, ReceiptHandle: acked.ReceiptHandle }));
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: standard,
          ReceiptHandle: released.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
      const redelivered = await receive(standard, 10);
      expect(redelivered.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([
        ['in-flight-released', '2'],
      ]);
      expect((await receive(fifo, 10)).map((m) => m.Body)).toEqual(['fifo-1']);
    });

    it('answers on its port only once every message is restored (clients never see it half restored)', {
      timeout: RESTART_TIMEOUT,
    }, async () => {
      // Enough messages that restoring them takes a while: ElasticMQ itself answers before it is done.
      const QueueName = `${unique('gate')}.fifo`;
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({
          QueueName,
          Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' },
        }),
      );
      queues.push(QueueUrl as string);
      const total = 3_000;
      for (let i = 0; i < total; i += 10) {
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl,
            Entries: Array.from({ length: 10 }, (_, j) => ({
              Id: String(j),
              MessageBody: `m${i + j}`,
              MessageGroupId: `g${(i + j) % 7}`,
            })),
          }),
        );
      }
      // A client that keeps asking through the restart, as consumers do: its first answers must show all.
      const seen: string[] = [];
      let restarting = true;
      const asking = (async () => {
        while (restarting) {
          try {
            const { Attributes } = await sqs.send(
              new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
            );
            seen.push(Attributes?.ApproximateNumberOfMessages ?? 'none');
          } catch (error) {
            const e = error as Error & { code?: string };
            // Refused connections: the broker is down. Anything else is an answer of a broker not ready.
            if (!/ECONNREFUSED|ECONNRESET|EPIPE|socket hang up/i.test(`${e.code} ${e.name} ${e.message}`))
              seen.push(`${e.name}: ${e.message}`);
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      })();
      await restart('sqs');
      restarting = false;
      await asking;
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.filter((answer) => answer !== String(total))).toEqual([]);
    });
  },
);
