// A Java service that is not omnibus — the plain Kafka and RabbitMQ clients and Apache Avro, from Maven
// Central — reads an event an omnibus bus publishes, and publishes one an omnibus subscriber reads, on the
// real brokers. Needs a JDK and Maven; CI has both (and sets CI=true, which makes their absence a failure
// here, not a skip).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { brokerUrl } from '@omnibus/brokers-dev';
import { createAdmin, createBus, type EventContext, registerScheme } from '@omnibus/core';
import * as kafka from '@omnibus/kafka';
import * as rabbitmq from '@omnibus/rabbitmq';
import { beforeAll, describe, expect, it } from 'vitest';
import { orderPlaced } from '../src/order-placed.ts';

registerScheme('kafka', kafka);
registerScheme('amqp', rabbitmq);

const PROJECT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = path.join(os.homedir(), '.cache', 'omnibus', 'interop-java');
const tools = ['java', 'mvn'].filter((tool) => spawnSync(tool, ['-version']).error !== undefined);
if (tools.length > 0 && process.env.CI) throw new Error(`the Java interop example needs ${tools.join(', ')}`);

// A partition count that is not a power of two, so every bit of the key's hash decides where it lands.
const PARTITIONS = 7;
const TARGETS = [
  { broker: 'kafka', url: withPartitions(brokerUrl('kafka')) },
  { broker: 'rabbitmq', url: withPartitions(brokerUrl('amqp')) },
  // The consistent-hash exchange: the Java producer uses the event key itself as the routing key.
  { broker: 'rabbitmq routing=hash', url: withPartitions(brokerUrl('amqp'), { routing: 'hash' }) },
] as const;
// Keys beyond ASCII too: both sides hash the key's UTF-8 bytes.
const KEYS = ['order-7', 'order-8-ü', 'заказ-9', '🚚-10', 'order-11', 'order-12'];

function withPartitions(url: string | undefined, more: Record<string, string> = {}): string | undefined {
  if (!url) return undefined;
  const parsed = new URL(url);
  parsed.searchParams.set('partitions', String(PARTITIONS));
  for (const [name, value] of Object.entries(more)) parsed.searchParams.set(name, value);
  return parsed.toString();
}

/** A JSON line the Java program printed. */
type Line = Record<string, unknown>;

/**
 * Builds the Java program unless this version of its sources is built already (the build output and the
 * dependency classpath live under ~/.cache/omnibus/interop-java/<hash of pom.xml and src/main>). Maven
 * runs offline first, online when something is missing from ~/.m2. Returns the classpath.
 */
function build(): string {
  const files = [path.join(PROJECT, 'pom.xml'), ...listFiles(path.join(PROJECT, 'src', 'main'))];
  const hash = createHash('sha256');
  for (const file of files) hash.update(path.relative(PROJECT, file)).update(fs.readFileSync(file));
  const dir = path.join(CACHE, hash.digest('hex').slice(0, 16));
  const classpathFile = path.join(dir, 'classpath.txt');
  if (!fs.existsSync(classpathFile)) {
    fs.rmSync(CACHE, { recursive: true, force: true });
    const args = [
      '-q',
      '-B',
      `-Dinterop.buildDir=${dir}`,
      'compile',
      'dependency:build-classpath',
      `-Dmdep.outputFile=${classpathFile}`,
    ];
    const offline = spawnSync('mvn', ['-o', ...args], { cwd: PROJECT, encoding: 'utf8' });
    if (offline.status !== 0) {
      const online = spawnSync('mvn', args, { cwd: PROJECT, encoding: 'utf8' });
      if (online.status !== 0) throw new Error(`mvn failed:\n${online.stdout}${online.stderr}`);
    }
  }
  const jars = fs.readFileSync(classpathFile, 'utf8').trim();
  return `${path.join(dir, 'classes')}${path.delimiter}${jars}`;
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

/** The Java program, running: its JSON lines as they come, and how it ended. */
class Java {
  readonly lines: Line[] = [];
  readonly exited: Promise<void>;
  readonly #child: ChildProcess;
  #stderr = '';

  constructor(classpath: string, url: string, args: string[]) {
    this.#child = spawn('java', ['-cp', classpath, 'dev.omnibus.interop.Main', ...args], {
      // UTF-8 arguments and output whatever the machine's locale (a key may be beyond ASCII).
      env: { ...process.env, BROKER_URL: url, LC_ALL: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => this.lines.push(JSON.parse(line)));
    this.#child.stderr!.on('data', (chunk) => {
      this.#stderr += chunk;
    });
    this.exited = new Promise((resolve, reject) => {
      this.#child.on('error', reject);
      this.#child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`java ${args.join(' ')} exited ${code}:\n${this.#stderr}`)),
      );
    });
  }

  /** Resolves once the program printed `{"ready":true}` (subscribed, or connected). */
  async ready(): Promise<void> {
    const failed = this.exited.then(() => {
      throw new Error('java exited before it was ready');
    });
    await Promise.race([until(() => this.lines.some((line) => line.ready === true), 'java ready'), failed]);
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill();
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(tools.length > 0)('a Java service without omnibus', () => {
  let classpath = '';
  beforeAll(() => {
    classpath = build();
  }, 600_000);

  for (const { broker, url } of TARGETS) {
    describe.skipIf(!url)(`on ${broker}`, () => {
      it('reads what omnibus publishes and publishes what omnibus reads', async () => {
        const topic = `interop-java-${randomBytes(4).toString('hex')}`;
        const OrderPlaced = orderPlaced(topic);
        const bus = await createBus({ url: url!, source: 'urn:example:omnibus-service' });
        const running: Java[] = [];
        // RabbitMQ: the Java side computes the routing key from the topic's partition count (or, with
        // routing=hash, sends the key as it is).
        const routing = broker === 'rabbitmq' ? String(PARTITIONS) : broker === 'kafka' ? undefined : 'hash';
        const java = (args: string[]) => {
          const program = new Java(classpath, url!, routing ? [...args, routing] : args);
          running.push(program);
          return program;
        };
        try {
          const received: { event: unknown; context: EventContext }[] = [];
          await bus.subscribe(OrderPlaced, { group: 'orders' }, (event, context) => {
            received.push({ event, context });
          });

          // 1. Java reads events omnibus published.
          const reader = java(['consume', topic, String(KEYS.length)]);
          await reader.ready();
          const time = new Date('2026-12-05T09:00:00.123Z');
          for (const [i, key] of KEYS.entries()) {
            await bus.publish(
              OrderPlaced,
              {
                orderId: key,
                quantity: 2n ** 53n + BigInt(i),
                total: '-12.30',
                placedAt: new Date('2026-12-05T08:59:59.001Z'),
                note: i === 0 ? null : `note ${i}`,
              },
              { key, id: `omnibus-${i}`, time },
            );
          }
          await reader.exited;
          const read = reader.lines.filter((line) => line.ready === undefined);
          expect(read.map((line) => line.key).sort()).toEqual([...KEYS].sort());
          expect(read.find((line) => line.key === 'order-7')).toMatchObject({
            contentType: 'application/avro',
            embeddedWriterSchema: true,
            fingerprint: OrderPlaced.fingerprint,
            attributes: {
              id: 'omnibus-0',
              source: 'urn:example:omnibus-service',
              specversion: '1.0',
              type: 'shop.order.placed',
              time: time.toISOString(),
              dataschema: `urn:omnibus:avro:shop.order.placed:v1:${OrderPlaced.fingerprint}`,
            },
            event: {
              orderId: 'order-7',
              quantity: '9007199254740992',
              total: '-12.30',
              placedAt: '2026-12-05T08:59:59.001Z',
              note: null,
            },
          });
          expect(read.find((line) => line.key === '🚚-10')).toMatchObject({
            event: { orderId: '🚚-10', quantity: '9007199254740995', note: 'note 3' },
          });
          // Each event landed where the Java side computes it: murmur2 on Kafka, FNV-1a on RabbitMQ.
          for (const line of read) {
            if (broker === 'kafka') expect(line.partition, String(line.key)).toBe(line.javaPartition);
            else expect(line.routingKey, String(line.key)).toBe(line.javaRoutingKey);
          }

          // 2. omnibus reads an event Java published the plain way (no writer-schema header).
          // A key beyond ASCII: both sides hash its UTF-8 bytes.
          const writer = java(['produce', topic, OrderPlaced.type, 'order-8-ü']);
          await writer.exited;
          const sent = writer.lines.find((line) => line.sent)!.sent as {
            attributes: { id: string; time: string };
          };
          await until(
            () => received.some(({ context }) => context.id === sent.attributes.id),
            `omnibus to receive ${sent.attributes.id} (an event it cannot read goes to ${topic}.dlq)`,
            30_000,
          );
          const { event, context } = received.find(({ context }) => context.id === sent.attributes.id)!;
          expect(event).toEqual({
            orderId: 'order-8-ü',
            quantity: 9_007_199_254_740_993n,
            total: '1234.50',
            placedAt: new Date('2026-12-05T10:11:12.345Z'),
            note: 'gift wrap',
          });
          expect(context).toMatchObject({
            key: 'order-8-ü',
            source: 'urn:example:java-service',
            type: 'shop.order.placed',
            time: new Date(sent.attributes.time),
          });
        } finally {
          for (const program of running) program.kill();
          await bus.close();
          const admin = await createAdmin(url!);
          await admin.deleteTopic(topic, ['orders']);
          await admin.deleteTopic(`${topic}.dlq`, ['dead-letters']); // there only when an event was dead-lettered
          await admin.close();
        }
      });
    });
  }
});
