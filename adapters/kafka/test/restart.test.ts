import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BrokerError } from '@omnibus/core';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaClient } from '../src/adapter.ts';
import { createKafkaTransport } from '../src/index.ts';
import { parseKafkaUrl } from '../src/options.ts';
import { message, PRODUCERS } from './helpers.ts';

const run = promisify(execFile);
const BROKERS_SH = fileURLToPath(new URL('../../../scripts/brokers/brokers.sh', import.meta.url));
const PORT = Number(process.env.OMNIBUS_PRIVATE_KAFKA_PORT ?? 19192);
const VERSION = process.env.OMNIBUS_PRIVATE_KAFKA_VERSION ?? '3.9.1';
/** brokers.sh names jars and data after the version, keeping plain `kafka` for 3.9.1. */
const NAME = VERSION === '3.9.1' ? 'kafka' : `kafka-${VERSION}`;
const URL_TEXT = `kafka://127.0.0.1:${PORT}`;
const RUN_DIR = path.join(os.tmpdir(), `omnibus-private-kafka-${PORT}`);
const JARS = path.join(
  process.env.OMNIBUS_CACHE ?? path.join(os.homedir(), '.cache/omnibus'),
  'brokers',
  NAME,
  'lib',
);

/**
 * brokers.sh for a Kafka of this test's own, on its own ports, run dir and env file: stopping it disturbs
 * no broker another test uses. Never the shared broker's settings.
 */
async function privateKafka(command: 'up' | 'down'): Promise<void> {
  await run('bash', [BROKERS_SH, command], {
    env: {
      ...process.env,
      BROKERS_ONLY: 'kafka',
      KAFKA_VERSION: VERSION,
      KAFKA_PORT: String(PORT),
      KAFKA_CONTROLLER_PORT: String(PORT + 1),
      OMNIBUS_RUN_DIR: RUN_DIR,
      OMNIBUS_BROKERS_ENV_FILE: path.join(RUN_DIR, 'brokers.env'),
      BROKERS_TIMEOUT: '60',
    },
    timeout: 90_000,
  });
}

let started = false;

describe('kafka: a publish issued while the broker is down', () => {
  afterAll(async () => {
    if (started) await privateKafka('down');
  }, 60_000);

  it.for([...PRODUCERS])(
    'is stored once the broker is back within publishTimeoutMs (default 60 s), %s producer',
    { timeout: 120_000 },
    async (producer, ctx) => {
      // The jars are fetched by `pnpm brokers:up` (Maven); a test does not download them.
      if (!existsSync(JARS))
        ctx.skip(`no Kafka jars in ${JARS}: run KAFKA_VERSION=${VERSION} pnpm brokers:up once`);
      try {
        await privateKafka('up');
        started = true;
      } catch (error) {
        const reason = String((error as { stderr?: string }).stderr ?? error)
          .trim()
          .split('\n')
          .slice(-3)
          .join(' ');
        ctx.skip(
          `could not start a private Kafka ${VERSION} on 127.0.0.1:${PORT} (run dir ${RUN_DIR}): ${reason}`,
        );
      }
      // brokers.sh uses a Kafka it did not start when one answers on the port: that one is not ours to stop.
      if (!existsSync(path.join(RUN_DIR, NAME, 'kafka.pid')))
        ctx.skip(
          `127.0.0.1:${PORT} is served by a Kafka this test did not start: set OMNIBUS_PRIVATE_KAFKA_PORT`,
        );

      const transport = createKafkaTransport(URL_TEXT, { producer });
      const impatient = createKafkaTransport(URL_TEXT, { publishTimeoutMs: 2_000, producer });
      const topic = `kafka-test-restart-${producer}-${Date.now()}`;
      try {
        await transport.connect();
        await impatient.connect();
        await transport.publish(message(topic, 1, 'k'));

        await privateKafka('down');
        const issued = Date.now();
        const publish = transport.publish(message(topic, 2, 'k')).then(
          () => ({ ok: true as const, ms: Date.now() - issued }),
          (error: unknown) => ({ ok: false as const, ms: Date.now() - issued, error }),
        );
        // Meanwhile a publish with a shorter publishTimeoutMs fails after it, saying why.
        const startedImpatient = Date.now();
        const error = await impatient.publish(message(topic, 3, 'k')).then(
          () => undefined,
          (e: unknown) => e,
        );
        const impatientMs = Date.now() - startedImpatient;
        expect(error).toBeInstanceOf(BrokerError);
        expect(String(error)).toMatch(/not stored within publishTimeoutMs \(2000 ms\)/);
        expect(String(error)).toMatch(/is the broker running\?/);
        expect(String(error)).toContain(`127.0.0.1:${PORT}`);
        expect(impatientMs).toBeGreaterThanOrEqual(1_900);
        expect(impatientMs).toBeLessThan(4_000);

        await privateKafka('up');
        const backMs = Date.now() - issued;
        const outcome = await publish;
        if (!outcome.ok) {
          throw new Error(
            `the publish failed after ${outcome.ms} ms; the broker was back after ${backMs} ms`,
            {
              cause: outcome.error,
            },
          );
        }
        expect(outcome.ms).toBeLessThan(60_000);
        await ctx.annotate(
          `the broker was back after ${backMs} ms; the publish was stored after ${outcome.ms} ms`,
        );
      } finally {
        await Promise.all([transport.close(), impatient.close()]);
      }

      // Both events are in the topic, the one published during the outage once.
      const admin = (await kafkaClient(parseKafkaUrl(URL_TEXT))).admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        expect(offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)).toBe(2);
      } finally {
        await admin.disconnect();
      }
    },
  );
});
