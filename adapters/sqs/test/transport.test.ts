import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { brokerUrl } from '@omnibus/brokers-dev';
import { BrokerError, type Delivery, MessageTooLargeError, type OutgoingMessage } from '@omnibus/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createAdmin,
  createSqsTransport,
  parseSqsUrl,
  queueName,
  type SqsOptions,
  type SqsTransport,
} from '../src/index.ts';

const SQS_URL = brokerUrl('sqs');

function topicName(label: string): string {
  return `test-sqs-${label}-${randomBytes(4).toString('hex')}`;
}

function message(topic: string, seq: number, key?: string, body?: Uint8Array): OutgoingMessage {
  return {
    topic,
    key,
    body: body ?? Buffer.from(`event ${seq}`),
    headers: { ce_id: `${topic}-${seq}`, seq: String(seq) },
  };
}

/** An HTTP proxy to the broker; `pass` sees each request first and may keep it (returning false). */
async function forwarding(
  target: URL,
  pass: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<{ proxy: Server; port: number }> {
  const proxy = createServer((req, res) => {
    if (!pass(req, res)) return;
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { proxy, port: (proxy.address() as AddressInfo).port };
}

async function waitUntil(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(!SQS_URL)('sqs: queues, fan-out discovery, limits and errors', () => {
  const transports: SqsTransport[] = [];
  const topics = new Map<string, string[]>();
  const options = SQS_URL ? parseSqsUrl(SQS_URL) : undefined;
  const raw = () =>
    new SQSClient({
      region: options!.region!,
      endpoint: options!.endpoint!,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });

  async function transport(overrides: Partial<SqsOptions> = {}): Promise<SqsTransport> {
    const t = createSqsTransport(SQS_URL!, overrides);
    transports.push(t);
    await t.connect();
    return t;
  }
  function track(topic: string, ...groups: string[]): string {
    topics.set(topic, groups);
    topics.set(`${topic}.dlq`, ['dead-letters']);
    return topic;
  }
  function collect(topic: string, group: string) {
    const got: Delivery[] = [];
    const request = {
      topic,
      group,
      maxInFlight: 32,
      onDelivery: async (d: Delivery) => {
        got.push(d);
        await d.ack();
      },
      onError: (error: Error) => {
        throw error;
      },
    };
    return { got, request };
  }

  afterAll(async () => {
    await Promise.allSettled(transports.map((t) => t.close()));
    const admin = await createAdmin(new URL(SQS_URL!), SQS_URL!);
    for (const [topic, groups] of topics) await admin.deleteTopic(topic, groups).catch(() => {});
    await admin.close();
  });

  it('creates a FIFO queue per group with a redrive policy to the topic dead-letter queue', async () => {
    const topic = track(topicName('layout'), 'payments');
    const t = await transport({ maxReceiveCount: 7 });
    await t.provision(topic, ['payments']);
    const client = raw();
    const url = (
      await client.send(new GetQueueUrlCommand({ QueueName: queueName('omnibus', topic, 'payments', true) }))
    ).QueueUrl;
    const attributes = (
      await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))
    ).Attributes!;
    expect(attributes.FifoQueue).toBe('true');
    expect(attributes.VisibilityTimeout).toBe(String(t.options.visibilityTimeoutMs / 1000));
    const redrive = JSON.parse(attributes.RedrivePolicy!) as {
      deadLetterTargetArn: string;
      maxReceiveCount: string | number;
    };
    expect(String(redrive.maxReceiveCount)).toBe('7');
    expect(redrive.deadLetterTargetArn).toMatch(
      new RegExp(`${queueName('omnibus', `${topic}.dlq`, 'dead-letters', true).replace('.', '\\.')}$`),
    );
    client.destroy();
  });

  it('reaches a group another process provisioned once the publisher lists the queues again', async () => {
    const topic = track(topicName('discovery'), 'first', 'second');
    const publisher = await transport({ discoveryTtlMs: 1_000 });
    const other = await transport();
    await publisher.provision(topic, ['first']);
    await publisher.publish(message(topic, 0, 'k')); // lists and caches the topic's queues: only `first`
    await other.provision(topic, ['second']);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await publisher.publish(message(topic, 1, 'k'));
    const second = collect(topic, 'second');
    const sub = await other.subscribe(second.request);
    await waitUntil(() => second.got.length >= 1, 'the event in the second group');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(second.got.map((d) => d.headers.seq)).toEqual(['1']);
    await sub.close();
  });

  it('rejects an event no group queue would keep (unroutable=error), and drops it only when told to', async () => {
    const topic = track(topicName('unroutable'), 'only');
    const publisher = await transport();
    const none = publisher.publish(message(topic, 0, 'k'));
    await expect(none).rejects.toBeInstanceOf(BrokerError);
    await expect(none).rejects.toThrow(/no group queue.*unroutable=drop/);
    const dropping = await transport({ unroutable: 'drop' });
    await expect(dropping.publish(message(topic, 1, 'k'))).resolves.toBeUndefined();
    expect(parseSqsUrl(`${SQS_URL}&unroutable=drop`).unroutable).toBe('drop');

    // The publisher knows the group's queue; the queue is deleted behind its back.
    await publisher.provision(topic, ['only']);
    await publisher.publish(message(topic, 2, 'k'));
    const admin = await createAdmin(new URL(SQS_URL!), SQS_URL!);
    await admin.deleteTopic(topic, ['only']);
    await admin.close();
    await expect(publisher.publish(message(topic, 3, 'k'))).rejects.toThrow(/no group queue/);
  });

  it('refuses an event over the queue limit with a typed error, and sends the rest of the batch', async () => {
    const topic = track(topicName('limit'), 'g');
    // maxMessageBytes above what the queue takes: the queue's own limit (1 MiB, base64 counted) decides.
    const t = await transport({ maxMessageBytes: 2_000_000 });
    await t.provision(topic, ['g']);
    const outcomes = await t.publishBatch([
      message(topic, 0, 'a', new Uint8Array(900_000)),
      message(topic, 1, 'b', new Uint8Array(1_000)),
    ]);
    expect(outcomes[0]).toBeInstanceOf(MessageTooLargeError);
    expect(String(outcomes[0])).toMatch(/MaximumMessageSize/);
    expect(outcomes[1]).toBeUndefined();
  });

  it('hands a message someone else wrote to the core as it is', async () => {
    const topic = track(topicName('foreign'), 'g');
    const t = await transport();
    await t.provision(topic, ['g']);
    const client = raw();
    const url = (
      await client.send(new GetQueueUrlCommand({ QueueName: queueName('omnibus', topic, 'g', true) }))
    ).QueueUrl;
    await client.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: '{"not":"omnibus"}',
        MessageGroupId: 'x',
        MessageDeduplicationId: 'x',
      }),
    );
    client.destroy();
    const { got, request } = collect(topic, 'g');
    const sub = await t.subscribe(request);
    await waitUntil(() => got.length === 1, 'the foreign message');
    expect(Buffer.from(got[0]!.body).toString()).toBe('{"not":"omnibus"}');
    expect(got[0]!.deliveryCount).toBe(1);
    await sub.close();
  });

  it('says the endpoint cannot be reached, without printing the secret', async () => {
    const secret = 'S3ntinel-secret';
    const t = createSqsTransport(`sqs://AKIDEXAMPLE:${secret}@127.0.0.1:1?region=us-east-1`, {
      requestTimeoutMs: 2_000,
    });
    const error = await t.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BrokerError);
    expect(String(error)).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED/);
    expect(`${String(error)} ${(error as Error).stack} ${JSON.stringify(error)}`).not.toContain(secret);
    await t.close();
  });

  it('close() leaves nothing invisible: the event a key unlocks while closing goes to the next consumer', async () => {
    // A long poll cut short by the client stays open at the broker and would take the key's next event (its
    // group unlocks when the first is acked during close) — invisible then for a whole visibility timeout.
    const topic = track(topicName('close-polls'), 'g');
    const first = await transport({ waitTimeSeconds: 3, visibilityTimeoutMs: 30_000 });
    await first.provision(topic, ['g']);
    await first.publish(message(topic, 1, 'k'));
    const held: Delivery[] = [];
    const sub = await first.subscribe({
      topic,
      group: 'g',
      maxInFlight: 32,
      onDelivery: async (d) => {
        held.push(d);
      },
      onError: (error) => {
        throw error;
      },
    });
    await waitUntil(() => held.length === 1, 'the first event');
    await first.publish(message(topic, 2, 'k')); // waits at the broker behind its key's first event
    await new Promise((resolve) => setTimeout(resolve, 300)); // the other polls are open, waiting
    await sub.stop();
    await held[0]!.ack(); // unlocks the key at the broker: its second event is visible
    await sub.close();
    expect(held.map((d) => d.headers.seq)).toEqual(['1']);
    const next = await transport({ waitTimeSeconds: 1 });
    const { got, request } = collect(topic, 'g');
    const nextSub = await next.subscribe(request);
    const startedAt = Date.now();
    // Well inside the 30 s visibility timeout that a message taken by a stray poll would wait out.
    await waitUntil(() => got.length === 1, 'the second event on the next consumer', 8_000);
    expect(got[0]!.headers.seq).toBe('2');
    expect(Date.now() - startedAt).toBeLessThan(8_000);
    await nextSub.close();
  });

  it('a keep-alive racing a hand-back never hides the message again', async () => {
    const topic = track(topicName('touch-release'), 'g');
    const t = await transport({ visibilityTimeoutMs: 30_000, waitTimeSeconds: 1 });
    await t.provision(topic, ['g']);
    await t.publish(message(topic, 1, 'k'));
    let released = 0;
    const sub = await t.subscribe({
      topic,
      group: 'g',
      maxInFlight: 32,
      onDelivery: async (d) => {
        if (released < 6) {
          released++;
          // The core's keep-alive ticks on its own clock: a touch may be on its way when the hand-back is
          // asked for, or come right after it. Either way the message must come straight back.
          if (released % 2 === 0) {
            await d.release();
            await d.touch!();
          } else {
            const touched = d.touch!();
            await d.release();
            await touched;
          }
        } else {
          await d.ack();
        }
      },
      onError: (error) => {
        throw error;
      },
    });
    await waitUntil(() => released === 6, 'six hand-backs beside a keep-alive', 10_000);
    await sub.close();
  });

  it('a hand-back SQS carried out, then answered with an error, is done when the retry finds the handle gone', async () => {
    // A broker under load (ElasticMQ's 21 s AskTimeout, a 5xx from SQS) may carry out a request and still
    // answer it with an error; the SDK retries it. Here the proxy forwards the first hand-back, and answers
    // it with a 500 only once the message was received again: the retry's receipt handle is no longer valid.
    const target = new URL(options!.endpoint!);
    let failHandBack = true;
    let heldAnswer: (() => void) | undefined;
    let receivedWithMessage = 0;
    const proxy = createServer((req, res) => {
      const action = String(req.headers['x-amz-target']);
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const upstream = request(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => parts.push(chunk));
            answer.on('end', () => {
              const text = Buffer.concat(parts);
              if (action.endsWith('.ReceiveMessage') && text.includes('ReceiptHandle')) {
                receivedWithMessage++;
                if (receivedWithMessage >= 2) heldAnswer?.();
              }
              const handBack =
                action.endsWith('.ChangeMessageVisibilityBatch') && body.includes('"VisibilityTimeout":0');
              if (handBack && failHandBack) {
                failHandBack = false;
                heldAnswer = () => {
                  heldAnswer = undefined;
                  res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
                  res.end(JSON.stringify({ __type: 'InternalError', message: 'carried out, answered late' }));
                };
                // An open long poll may have taken the message before this answer arrived.
                if (receivedWithMessage >= 2) heldAnswer();
                return;
              }
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.end(text);
            });
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as AddressInfo).port;
    try {
      const topic = track(topicName('handback-retry'), 'g');
      const t = createSqsTransport(`sqs://127.0.0.1:${port}?region=us-east-1`, { waitTimeSeconds: 1 });
      transports.push(t);
      await t.connect();
      await t.provision(topic, ['g']);
      await t.publish(message(topic, 1, 'k'));
      let deliveries = 0;
      let handedBack: Promise<void> | undefined;
      const sub = await t.subscribe({
        topic,
        group: 'g',
        maxInFlight: 32,
        onDelivery: async (d) => {
          deliveries++;
          if (deliveries === 1) handedBack = d.release();
          else await d.ack();
        },
        onError: () => {},
      });
      await waitUntil(() => deliveries >= 2, 'the handed-back message to come again');
      await expect(handedBack).resolves.toBeUndefined();
      expect(failHandBack).toBe(false);
      await sub.close();
    } finally {
      proxy.close();
    }
  });

  it('keeps one long poll open on an idle queue, not one per receiver', async () => {
    // A proxy in front of the broker counts the ReceiveMessage requests (each one is billed on SQS).
    let receives = 0;
    const { proxy, port } = await forwarding(new URL(options!.endpoint!), (req) => {
      if (String(req.headers['x-amz-target']).endsWith('.ReceiveMessage')) receives++;
      return true;
    });
    try {
      const topic = track(topicName('idle'), 'g');
      const t = createSqsTransport(`sqs://127.0.0.1:${port}?region=us-east-1`, {
        waitTimeSeconds: 1,
        receivers: 4,
      });
      transports.push(t);
      await t.connect();
      await t.provision(topic, ['g']);
      const { got, request: subscribeRequest } = collect(topic, 'g');
      const sub = await t.subscribe(subscribeRequest);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = receives;
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      const idle = receives - before;
      // One receiver polling 1 s waits: about 4 in 4 s; four of them would make about 16.
      expect(idle).toBeGreaterThanOrEqual(2);
      expect(idle).toBeLessThanOrEqual(6);
      // Events wake the resting receivers; all of them arrive.
      await Promise.all(Array.from({ length: 30 }, (_, i) => t.publish(message(topic, i, `k${i % 5}`))));
      await waitUntil(() => got.length === 30, 'the 30 events');
      await sub.close();
    } finally {
      proxy.close();
    }
  });

  it('close() cuts off the polls and acks a broker leaves unanswered, and the message comes again', async () => {
    // ElasticMQ under load may leave a request unanswered for 21 s; a shutdown must not wait for it. The
    // proxy in front of the broker stops answering once the event is delivered: the next poll and the ack's
    // delete hang until close() cuts them off (waitTimeSeconds + 3 s for the polls, 3 s more for the acks).
    let frozen = false;
    const unanswered: ServerResponse[] = [];
    const { proxy, port } = await forwarding(new URL(options!.endpoint!), (req, res) => {
      if (!frozen) return true;
      unanswered.push(res);
      req.resume();
      return false;
    });
    try {
      const topic = track(topicName('stuck'), 'g');
      const settings = { waitTimeSeconds: 1, visibilityTimeoutMs: 2_000 };
      const t = createSqsTransport(`sqs://127.0.0.1:${port}?region=us-east-1`, settings);
      transports.push(t);
      await t.connect();
      await t.provision(topic, ['g']);
      await t.publish(message(topic, 1, 'k'));
      let acked: Promise<void> | undefined;
      const sub = await t.subscribe({
        topic,
        group: 'g',
        maxInFlight: 8,
        onDelivery: async (d) => {
          frozen = true;
          acked = d.ack();
          await acked;
        },
        onError: () => {},
      });
      await waitUntil(() => acked !== undefined, 'the delivery');
      const started = performance.now();
      await sub.close();
      // Without the cut-off it waits for the SDK's request timeout (requestTimeoutMs, 30 s).
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(unanswered.length).toBeGreaterThanOrEqual(2); // the poll and the delete

      // The delete never reached the broker: the event comes again after its visibility timeout.
      const direct = await transport(settings);
      const { got, request: again } = collect(topic, 'g');
      const second = await direct.subscribe(again);
      await waitUntil(() => got.length === 1, 'the event again');
      await second.close();
    } finally {
      for (const res of unanswered) res.destroy();
      proxy.close();
    }
  }, 30_000);

  it('uses a queue created earlier with other settings as it is', async () => {
    const topic = track(topicName('existing'), 'g');
    const client = raw();
    await client.send(
      new CreateQueueCommand({
        QueueName: queueName('omnibus', topic, 'g', true),
        Attributes: { FifoQueue: 'true', VisibilityTimeout: '77' },
      }),
    );
    client.destroy();
    const t = await transport();
    await t.provision(topic, ['g']);
    await t.publish(message(topic, 0, 'k'));
    const { got, request } = collect(topic, 'g');
    const sub = await t.subscribe(request);
    await waitUntil(() => got.length === 1, 'the event');
    await sub.close();
  });
});
