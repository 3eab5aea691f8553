// Readiness probe used by brokers.sh: `node src/probe.ts <kafka|amqp|redis|sqs> [url]`.
// Exit 0 when the broker really answers (Kafka: admin lists topics; AMQP: a connection opens;
// Redis: PING → PONG; SQS: ElasticMQ's /health answers 200), else exit 1 with the reason on stderr.
import net from 'node:net';
import { type BrokerKind, DEFAULT_URLS, isBrokerKind, kafkaBrokers, sqsEndpoint } from './urls.ts';

const PROBE_TIMEOUT_MS = 5_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export async function probeKafka(url: string): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const brokers = kafkaBrokers(url);
  const kafka = new Kafka({
    clientId: 'omnibus-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    requestTimeout: 4_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export async function probeAmqp(url: string): Promise<void> {
  const amqp = await import('amqplib');
  const conn = await amqp.connect(url, { timeout: 3_000 });
  await conn.close();
}

export async function probeRedis(url: string): Promise<void> {
  const u = new URL(url);
  const host = u.hostname || '127.0.0.1';
  const port = Number(u.port || 6379);
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect({ host, port });
    let buf = '';
    sock.setTimeout(3_000, () => sock.destroy(new Error('timeout waiting for PONG')));
    sock.on('connect', () => {
      const cmds: string[] = [];
      if (u.password) {
        const user = decodeURIComponent(u.username || 'default');
        const pass = decodeURIComponent(u.password);
        cmds.push(
          `*3\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(user)}\r\n${user}\r\n$${Buffer.byteLength(pass)}\r\n${pass}\r\n`,
        );
      }
      cmds.push('*1\r\n$4\r\nPING\r\n');
      sock.write(cmds.join(''));
    });
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('+PONG')) {
        sock.end();
        resolve();
      } else if (buf.startsWith('-') || buf.includes('\r\n-')) {
        sock.destroy();
        reject(new Error(`redis answered: ${buf.trim()}`));
      }
    });
    sock.on('error', reject);
  });
}

export async function probeSqs(url: string): Promise<void> {
  const { endpoint } = sqsEndpoint(url);
  const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(3_000) }).catch(
    (err: Error & { cause?: { code?: string } }) => {
      throw new Error(`GET ${endpoint}/health: ${err.cause?.code ?? err.message}`);
    },
  );
  if (res.status !== 200) throw new Error(`GET ${endpoint}/health → HTTP ${res.status}`);
  await res.arrayBuffer();
}

export async function probe(kind: BrokerKind, url: string = DEFAULT_URLS[kind]): Promise<void> {
  const run = { kafka: probeKafka, amqp: probeAmqp, redis: probeRedis, sqs: probeSqs }[kind];
  await withTimeout(run(url), PROBE_TIMEOUT_MS, kind);
}

const isMain =
  process.argv[1] && import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1]);
if (isMain) {
  const [kind, url] = process.argv.slice(2);
  if (!kind || !isBrokerKind(kind)) {
    console.error('usage: node probe.ts <kafka|amqp|redis|sqs> [url]');
    process.exit(2);
  }
  try {
    await probe(kind, url);
    process.exit(0);
  } catch (err) {
    const e = err as Error & { code?: string };
    console.error(e.code ? `${e.code} ${e.message}` : e.message || String(err));
    process.exit(1);
  }
}
