// Vitest globalSetup: find a real broker for each kind (kafka, amqp, redis, sqs, redisDurable,
// redisCluster) and hand the URLs to tests via `project.provide('brokerUrls', …)` (read them with
// `brokerUrl(kind)` from ./index.ts).
//
// Resolution order per broker:
//   1. env var KAFKA_URL / AMQP_URL / REDIS_URL / SQS_URL / REDIS_DURABLE_URL / REDIS_CLUSTER_URL
//   2. .brokers/brokers.env at the workspace root (written by `pnpm brokers:up`)
//   3. testcontainers, when a container runtime answers (explicit images, stopped in teardown)
//   4. missing → tests for it are skipped, and teardown says so. REQUIRE_BROKERS=all or
//      REQUIRE_BROKERS=kafka,amqp,redis-durable makes a missing broker an error instead.
//
// Works as a root-level globalSetup with vitest `projects` (the root project's provided values are
// merged into every project's) and is safe to list in several projects: the work is done once
// per process and shared.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import {
  BROKER_KINDS,
  type BrokerKind,
  type BrokerUrls,
  ENV_VARS,
  parseBrokerKind,
  redactUrl,
  TARGET_NAMES,
} from './urls.ts';
import './provided-context.ts';

type Source = 'env' | 'env-file' | 'testcontainers';
interface Resolution {
  urls: BrokerUrls;
  sources: Partial<Record<BrokerKind, Source>>;
  missing: BrokerKind[];
  stop: Array<() => Promise<unknown>>;
}
interface SharedState {
  resolution?: Promise<Resolution>;
  users: number;
}

const STATE_KEY = Symbol.for('omnibus.brokers.globalSetup');
const globalSlots = globalThis as Record<symbol, unknown>;
if (!globalSlots[STATE_KEY]) globalSlots[STATE_KEY] = { users: 0 } satisfies SharedState;
const shared = globalSlots[STATE_KEY] as SharedState;

/** Images used when a container runtime is available (kept in step with docker-compose.yml). */
export const IMAGES = {
  kafka: 'apache/kafka:3.9.1',
  amqp: 'rabbitmq:4-management',
  redis: 'redis:8',
  sqs: 'softwaremill/elasticmq-native:1.7.1',
  redisDurable: 'redis:8',
  redisCluster: 'redis:8',
} as const;

/** RabbitMQ with the consistent-hash exchange (routing=hash), as docker-compose.yml starts it. */
const AMQP_WITH_HASH_PLUGIN =
  'rabbitmq-plugins enable --offline rabbitmq_consistent_hash_exchange && exec docker-entrypoint.sh rabbitmq-server';

/** The one-container cluster script that docker-compose.yml runs too. */
const REDIS_CLUSTER_SCRIPT = fileURLToPath(new URL('../container/redis-cluster.sh', import.meta.url));

const HOW_TO_PROVIDE = (kind: BrokerKind) =>
  `Set ${ENV_VARS[kind]} or run pnpm brokers:up (BROKERS_ONLY=${TARGET_NAMES[kind]} for just this one)`;

/** Walk up from `start` to the directory holding pnpm-workspace.yaml. */
export function findWorkspaceRoot(start: string = process.cwd()): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Parse KEY=VALUE lines (comments, blank lines, `export ` prefixes and quotes tolerated). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2] ?? '';
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1] as string] = v;
  }
  return out;
}

/** OMNIBUS_BROKERS_ENV_FILE overrides the env file's path (e.g. /dev/null to ignore it). */
function readEnvFile(): Record<string, string> {
  const root = findWorkspaceRoot();
  const file = process.env.OMNIBUS_BROKERS_ENV_FILE || (root && path.join(root, '.brokers', 'brokers.env'));
  if (!file) return {};
  try {
    return parseEnvFile(fs.readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

/** REQUIRE_BROKERS=all | kafka,amqp,redis-durable,… (target or kind names) → the kinds that must be found. */
export function requiredBrokers(value: string | undefined = process.env.REQUIRE_BROKERS): BrokerKind[] {
  const v = (value ?? '').trim().toLowerCase();
  if (!v || v === 'none' || v === '0' || v === 'false') return [];
  if (v === 'all' || v === '1' || v === 'true') return [...BROKER_KINDS];
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((name) => !parseBrokerKind(name));
  if (bad.length) {
    throw new Error(
      `REQUIRE_BROKERS: unknown broker(s) ${bad.join(', ')}; use "all" or a comma list of ` +
        Object.values(TARGET_NAMES).join(','),
    );
  }
  return [...new Set(names.map((name) => parseBrokerKind(name) as BrokerKind))];
}

// ------------------------------------------------------------------ testcontainers fallback

async function containerRuntimeAvailable(): Promise<boolean> {
  if (process.env.OMNIBUS_NO_TESTCONTAINERS === '1') return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient(); // throws when no Docker/Podman answers
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function startContainer(kind: BrokerKind): Promise<{ url: string; stop: () => Promise<unknown> }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  switch (kind) {
    case 'kafka': {
      // Kafka must advertise the address clients reach, i.e. the host port: pick it first and
      // bind it explicitly. The broker talks to itself over an internal listener.
      const hostPort = await freePort();
      const c = await new GenericContainer(IMAGES.kafka)
        .withExposedPorts({ container: 9092, host: hostPort })
        .withEnvironment({
          KAFKA_NODE_ID: '1',
          KAFKA_PROCESS_ROLES: 'broker,controller',
          KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
          KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,BROKER://localhost:9094,CONTROLLER://localhost:9093',
          KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${hostPort},BROKER://localhost:9094`,
          KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT',
          KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
          KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
          KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'true',
          KAFKA_NUM_PARTITIONS: '1',
          KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
          KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: '4',
          KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
          KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
          KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        })
        .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
        .withStartupTimeout(120_000)
        .start();
      return { url: `kafka://127.0.0.1:${hostPort}`, stop: () => c.stop() };
    }
    case 'amqp': {
      const c = await new GenericContainer(IMAGES.amqp)
        .withExposedPorts(5672)
        .withCommand(['bash', '-c', AMQP_WITH_HASH_PLUGIN])
        .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
        .withStartupTimeout(120_000)
        .start();
      return { url: `amqp://guest:guest@${c.getHost()}:${c.getMappedPort(5672)}`, stop: () => c.stop() };
    }
    case 'redis': {
      const c = await new GenericContainer(IMAGES.redis)
        .withExposedPorts(6379)
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
        .start();
      return { url: `redis://${c.getHost()}:${c.getMappedPort(6379)}`, stop: () => c.stop() };
    }
    case 'sqs': {
      const c = await new GenericContainer(IMAGES.sqs)
        .withExposedPorts(9324)
        .withWaitStrategy(Wait.forHttp('/health', 9324).forStatusCode(200))
        .start();
      return { url: `sqs://${c.getHost()}:${c.getMappedPort(9324)}?region=us-east-1`, stop: () => c.stop() };
    }
    case 'redisDurable': {
      const c = await new GenericContainer(IMAGES.redisDurable)
        .withCommand(['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''])
        .withExposedPorts(6379)
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
        .start();
      return { url: `redis://${c.getHost()}:${c.getMappedPort(6379)}`, stop: () => c.stop() };
    }
    case 'redisCluster': {
      // Cluster nodes hand clients their own address, so they must be reachable at the port they
      // listen on: pick free host ports, publish them 1:1, and announce 127.0.0.1.
      const ports = new Set<number>();
      while (ports.size < 3) ports.add(await freePort());
      const c = await new GenericContainer(IMAGES.redisCluster)
        .withCopyFilesToContainer([
          { source: REDIS_CLUSTER_SCRIPT, target: '/omnibus/redis-cluster.sh', mode: 0o755 },
        ])
        .withEntrypoint(['sh', '/omnibus/redis-cluster.sh'])
        .withCommand([...ports].map(String))
        .withExposedPorts(...[...ports].map((port) => ({ container: port, host: port })))
        .withWaitStrategy(Wait.forLogMessage(/omnibus redis cluster ready/))
        .withStartupTimeout(60_000)
        .start();
      const nodes = [...ports].map((port) => `127.0.0.1:${port}`).join(',');
      return { url: `redis://${nodes}?cluster=true`, stop: () => c.stop() };
    }
  }
}

// ------------------------------------------------------------------ resolution

async function resolve(): Promise<Resolution> {
  const required = requiredBrokers();
  const fileVars = readEnvFile();
  const res: Resolution = { urls: {}, sources: {}, missing: [], stop: [] };
  const unresolved: BrokerKind[] = [];
  for (const kind of BROKER_KINDS) {
    const envVal = process.env[ENV_VARS[kind]]?.trim();
    const fileVal = fileVars[ENV_VARS[kind]]?.trim();
    if (envVal) {
      res.urls[kind] = envVal;
      res.sources[kind] = 'env';
    } else if (fileVal) {
      res.urls[kind] = fileVal;
      res.sources[kind] = 'env-file';
    } else {
      unresolved.push(kind);
    }
  }
  if (unresolved.length && (await containerRuntimeAvailable())) {
    const started = await Promise.allSettled(unresolved.map((k) => startContainer(k)));
    started.forEach((r, i) => {
      const kind = unresolved[i] as BrokerKind;
      if (r.status === 'fulfilled') {
        res.urls[kind] = r.value.url;
        res.sources[kind] = 'testcontainers';
        res.stop.push(r.value.stop);
      } else {
        console.warn(`[omnibus] ${kind}: testcontainers failed: ${(r.reason as Error)?.message ?? r.reason}`);
      }
    });
  }
  res.missing = BROKER_KINDS.filter((k) => !res.urls[k]);
  const missingRequired = res.missing.filter((k) => required.includes(k));
  if (missingRequired.length) {
    await Promise.allSettled(res.stop.map((s) => s()));
    throw new Error(
      `[omnibus] REQUIRE_BROKERS=${process.env.REQUIRE_BROKERS} but no broker for: ${missingRequired.join(', ')}. ` +
        missingRequired.map((k) => `${k}: ${HOW_TO_PROVIDE(k)}`).join('; ') +
        ' (or start Docker so testcontainers can run one).',
    );
  }
  if (process.env.OMNIBUS_BROKERS_VERBOSE === '1') {
    for (const k of BROKER_KINDS) {
      const u = res.urls[k];
      console.log(`[omnibus] ${k}: ${u ? `${redactUrl(u)} (${res.sources[k]})` : 'missing'}`);
    }
  }
  return res;
}

export async function setup(project: TestProject): Promise<void> {
  shared.users++;
  shared.resolution ??= resolve();
  let res: Resolution;
  try {
    res = await shared.resolution;
  } catch (err) {
    shared.resolution = undefined;
    shared.users--;
    throw err;
  }
  project.provide('brokerUrls', { ...res.urls });
}

export async function teardown(): Promise<void> {
  shared.users = Math.max(0, shared.users - 1);
  if (shared.users > 0 || !shared.resolution) return;
  const res = await shared.resolution.catch(() => undefined);
  shared.resolution = undefined;
  if (!res) return;
  for (const kind of res.missing) {
    console.log(`[omnibus] ${kind} tests skipped: no broker. ${HOW_TO_PROVIDE(kind)}`);
  }
  await Promise.allSettled(res.stop.map((s) => s()));
}
