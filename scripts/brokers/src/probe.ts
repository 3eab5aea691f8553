// Readiness probe used by brokers.sh: `node src/probe.ts <kind> [url]` (kind: kafka, amqp, redis, sqs,
// redis-durable, redis-cluster). Exit 0 when the broker really answers (Kafka: admin lists topics;
// AMQP: a connection opens; Redis: PING → PONG; durable Redis: also loaded, AOF on; Redis Cluster:
// every node says cluster_state:ok; SQS: ElasticMQ's /health answers 200), else exit 1 with the reason.
import { infoFields, redisCommands } from './resp.ts';
import {
  type BrokerKind,
  DEFAULT_URLS,
  kafkaBrokers,
  parseBrokerKind,
  type RedisNode,
  redisTarget,
  sqsEndpoint,
  TARGET_NAMES,
} from './urls.ts';

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
  const { nodes, ...auth } = redisTarget(url);
  const [reply] = await redisCommands(nodes[0] as RedisNode, [['PING']], auth);
  if (reply !== 'PONG') throw new Error(`PING answered ${JSON.stringify(reply)}`);
}

/** Serving, done loading its append-only file, and AOF on (else a restart would lose its data). */
export async function probeRedisDurable(url: string): Promise<void> {
  const { nodes, ...auth } = redisTarget(url);
  const [, info] = await redisCommands(nodes[0] as RedisNode, [['PING'], ['INFO', 'persistence']], auth);
  const fields = infoFields(info ?? '');
  if (fields.loading !== '0') throw new Error('still loading its data set');
  if (fields.aof_enabled !== '1') {
    throw new Error(
      'appendonly is off: this Redis would lose its data on restart (start it with --appendonly yes)',
    );
  }
}

/** Every node of the URL (`redis://h1:p1,h2:p2?cluster=true`) sees all slots served: cluster_state:ok. */
export async function probeRedisCluster(url: string): Promise<void> {
  const { nodes, ...auth } = redisTarget(url);
  await Promise.all(
    nodes.map(async (node) => {
      const [info] = await redisCommands(node, [['CLUSTER', 'INFO']], auth);
      const fields = infoFields(info ?? '');
      if (fields.cluster_state !== 'ok' || fields.cluster_slots_assigned !== '16384') {
        throw new Error(
          `${node.host}:${node.port}: cluster_state:${fields.cluster_state ?? '?'}, ` +
            `${fields.cluster_slots_assigned ?? '?'}/16384 slots assigned`,
        );
      }
    }),
  );
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
  const run = {
    kafka: probeKafka,
    amqp: probeAmqp,
    redis: probeRedis,
    sqs: probeSqs,
    redisDurable: probeRedisDurable,
    redisCluster: probeRedisCluster,
  }[kind];
  await withTimeout(run(url), PROBE_TIMEOUT_MS, kind);
}

const isMain =
  process.argv[1] && import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1]);
if (isMain) {
  const [name, url] = process.argv.slice(2);
  const kind = name ? parseBrokerKind(name) : undefined;
  if (!kind) {
    console.error(`usage: node probe.ts <${Object.values(TARGET_NAMES).join('|')}> [url]`);
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
