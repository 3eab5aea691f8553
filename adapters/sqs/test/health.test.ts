import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { brokerUrl } from '@omnibus/brokers-dev';
import type { TransportHealth } from '@omnibus/core';
import { afterAll, describe, expect, it } from 'vitest';
import { classify } from '../src/health.ts';
import { createAdmin, createSqsTransport, type SqsTransport } from '../src/index.ts';

const SQS_URL = brokerUrl('sqs');

async function healthUntil(
  transport: { health(): TransportHealth },
  wanted: (health: TransportHealth) => boolean,
  poke: () => Promise<unknown>,
  timeoutMs = 30_000,
): Promise<TransportHealth> {
  const deadline = Date.now() + timeoutMs;
  while (!wanted(transport.health())) {
    if (Date.now() > deadline)
      throw new Error(`health is still ${JSON.stringify(transport.health())} after ${timeoutMs} ms`);
    await poke().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return transport.health();
}

/** A TCP proxy to the real endpoint that the test can close and open again on the same port. */
async function proxyTo(target: URL): Promise<{ port: number; open(): Promise<void>; shut(): Promise<void> }> {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const open = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  const shut = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server!.close(() => resolve());
    });
  await open();
  return {
    get port() {
      return port;
    },
    open,
    shut,
  };
}

describe.skipIf(!SQS_URL)('sqs: health()', () => {
  const transports: SqsTransport[] = [];
  const topics = new Map<string, string[]>();
  const endpoint = new URL(SQS_URL ? SQS_URL.replace(/^sqs:/, 'http:') : 'http://127.0.0.1:9324');

  afterAll(async () => {
    await Promise.allSettled(transports.map((t) => t.close()));
    const admin = await createAdmin(new URL(SQS_URL!), SQS_URL!);
    for (const [topic, groups] of topics) await admin.deleteTopic(topic, groups).catch(() => {});
    await admin.close();
  });

  function open(url: string): SqsTransport {
    const transport = createSqsTransport(url, { waitTimeSeconds: 1 });
    transports.push(transport);
    return transport;
  }

  it('is connecting before connect(), up once connected, and down once closed', async () => {
    const transport = open(SQS_URL!);
    expect(transport.health()).toEqual({ connection: 'connecting', detail: 'connecting' });
    await transport.connect();
    expect(transport.health()).toEqual({ connection: 'up' });
    await transport.close();
    expect(transport.health()).toEqual({ connection: 'down', detail: 'closed' });
  });

  it('an unreachable endpoint: connect() fails and health() says down, unreachable, without the credentials', async () => {
    const transport = open('sqs://KEYID-health:s3cr3t-health@127.0.0.1:1?region=us-east-1');
    await expect(transport.connect()).rejects.toThrow(/cannot reach/);
    const health = transport.health();
    expect(health.connection).toBe('down');
    expect(health.detail).toMatch(
      /^unreachable: cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED; ListQueues\)$/,
    );
    expect(JSON.stringify(health)).not.toMatch(/s3cr3t|KEYID/);
  });

  it('the endpoint going away after connect: connecting with the reason, and up again once it answers', async () => {
    const proxy = await proxyTo(endpoint);
    const transport = open(
      `sqs://127.0.0.1:${proxy.port}?region=${endpoint.searchParams.get('region') ?? 'us-east-1'}`,
    );
    const topic = `test-sqs-health-${randomBytes(4).toString('hex')}`;
    topics.set(topic, ['g']);
    topics.set(`${topic}.dlq`, ['dead-letters']);
    await transport.connect();
    await transport.provision(topic, ['g']);
    expect(transport.health()).toEqual({ connection: 'up' });

    await proxy.shut();
    const poke = () => transport.lag(topic, 'g');
    const lost = await healthUntil(transport, (h) => h.connection !== 'up', poke);
    expect(lost.connection).toBe('connecting');
    expect(lost.detail).toMatch(
      new RegExp(
        `^unreachable: cannot reach http://127\\.0\\.0\\.1:${proxy.port} \\((ECONNREFUSED|ECONNRESET|socket hang up)`,
      ),
    );

    await proxy.open();
    expect((await healthUntil(transport, (h) => h.connection === 'up', poke)).detail).toBeUndefined();
    await proxy.shut();
  });

  it('a subscription whose queue is deleted: the subscription reports it, health names the queue, the connection stays up', async () => {
    const transport = open(SQS_URL!);
    const topic = `test-sqs-health-gone-${randomBytes(4).toString('hex')}`;
    topics.set(topic, ['g']);
    topics.set(`${topic}.dlq`, ['dead-letters']);
    const errors: Error[] = [];
    await transport.subscribe({
      topic,
      group: 'g',
      maxInFlight: 10,
      onDelivery: async (delivery) => void (await delivery.ack()),
      onError: (error) => void errors.push(error),
    });
    expect(transport.health()).toEqual({ connection: 'up' });
    const admin = await createAdmin(new URL(SQS_URL!), SQS_URL!);
    await admin.deleteTopic(topic, ['g']);
    await admin.close();
    const gone = await healthUntil(
      transport,
      (h) => h.detail !== undefined,
      async () => {},
    );
    expect(gone.connection).toBe('up');
    expect(gone.detail).toMatch(/^queue missing: http\S+ does not exist \(ReceiveMessage\)$/);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/does not exist \(receiving\)/);
  });
});

// ElasticMQ checks no credentials or permissions: these answers are shaped as the SDK raises AWS's, by name
// and code (the only fields read), with a secret in the message that must not come through.
describe('sqs: classifying a failed request', () => {
  const answer = (name: string, message = 'request quoted: AKIASECRET wJalrXUtnFEMI/SECRET') =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 403 } });
  it.each([
    [
      'InvalidClientTokenId',
      'credentials refused',
      'credentials refused: https://sqs.example answered InvalidClientTokenId (SendMessage)',
    ],
    [
      'SignatureDoesNotMatch',
      'credentials refused',
      'credentials refused: https://sqs.example answered SignatureDoesNotMatch (SendMessage)',
    ],
    [
      'AccessDenied',
      'access denied',
      'access denied: https://sqs.example answered AccessDenied (SendMessage)',
    ],
    [
      'CredentialsProviderError',
      'credentials missing',
      'credentials missing: no AWS credentials found (SendMessage)',
    ],
    ['QueueDoesNotExist', 'queue missing', 'queue missing: q1 does not exist (SendMessage)'],
    ['InvalidParameterValue', 'answered', ''],
  ])('%s is %s, and the reason never quotes the answer', (name, kind, reason) => {
    expect(classify(answer(name), 'https://sqs.example', 'SendMessage', 'q1')).toEqual({ kind, reason });
  });
});
