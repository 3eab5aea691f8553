import { randomUUID } from 'node:crypto';
import { brokerUrl } from '@omnibus/brokers-dev';
import type { Delivery, OutgoingMessage } from '@omnibus/core';
import { createAdmin, createKafkaTransport, type KafkaTransport } from '../src/index.ts';
import type { KafkaOptions, ProducerDriver } from '../src/options.ts';

/** Every client the transport can publish with: broker tests run once per producer. */
export const PRODUCERS: readonly ProducerDriver[] = ['kafkajs', 'platformatic'];

/** The broker found by the global setup (pnpm brokers:up), or undefined: tests that need it are skipped. */
export const KAFKA_URL = brokerUrl('kafka');

/** Kafka's own UtilsTest.testMurmur2 vectors: Utils.murmur2(UTF-8 bytes of the key), signed. */
export const JAVA_MURMUR2: Readonly<Record<string, number>> = {
  '21': -973932308,
  foobar: -790332482,
  'a-little-bit-long-string': -985981536,
  'a-little-bit-longer-string': -1486304829,
  lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8: -58897971,
  abc: 479470107,
};

/** Topic names handed out by `uniqueName`; `closeAll()` deletes them so runs do not pile up topics. */
const names = new Set<string>();
export function uniqueName(what: string): string {
  const name = `kafka-test-${what}-${randomUUID().slice(0, 8)}`;
  names.add(name);
  return name;
}

/** Transports opened by a test file; `closeAll()` in afterEach/afterAll. */
const open = new Set<KafkaTransport>();
export async function openTransport(overrides: Partial<KafkaOptions> = {}): Promise<KafkaTransport> {
  const transport = createKafkaTransport(KAFKA_URL ?? 'kafka://127.0.0.1:9092', {
    sessionTimeoutMs: 6000,
    ...overrides,
  });
  open.add(transport);
  await transport.connect();
  return transport;
}
export async function closeAll(): Promise<void> {
  await Promise.allSettled([...open].map((t) => t.close()));
  open.clear();
  if (names.size === 0 || !KAFKA_URL) return;
  // After every transport is closed: a live producer would keep asking for a deleted topic's metadata.
  const cleaner = await createAdmin(new URL(KAFKA_URL), KAFKA_URL);
  try {
    for (const name of names) await cleaner.deleteTopic(name, []);
  } finally {
    names.clear();
    await cleaner.close();
  }
}

export function message(
  topic: string,
  i: number,
  key?: string,
  headers: Record<string, string> = {},
): OutgoingMessage {
  return {
    topic,
    key,
    body: new TextEncoder().encode(`event-${i}`),
    headers: { seq: String(i), ...headers },
  };
}

export const text = (d: Delivery) => new TextDecoder().decode(d.body);

/** Polls `condition` until it holds; on time-out throws with `describe()` (what is still missing). */
export async function waitUntil(
  condition: () => boolean,
  describe: () => string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
