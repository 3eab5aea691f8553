import { describe, type E2eBroker, type E2eSettings, type Fixture, type Side, type Variant } from './e2e.ts';
import { openFixture } from './fixtures.ts';
import { now, quantile, runId, withTimeout } from './stats.ts';

/** The contenders of the latency table: what a user writes without omnibus, and omnibus. */
export const LATENCY_VARIANTS = ['raw JSON', 'omnibus'] as const satisfies readonly Variant[];
export type LatencyVariant = (typeof LATENCY_VARIANTS)[number];

export interface LatencySettings extends E2eSettings {
  /** Events per second offered. @default 1000 */
  rate: number;
  /** Seconds per segment; each run has one segment per contender. */
  seconds: number;
}

export interface LatencySample {
  p50: number;
  p99: number;
  /** Events measured (the first 10 % of each segment are warm-up and left out). */
  events: number;
}

export interface LatencyReport {
  broker: E2eBroker;
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  conditions: string[];
  samples: Record<LatencyVariant, LatencySample[]>;
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

/**
 * Offers `rate` events/s for `seconds` through `side` (the events that fell due since the last timer
 * tick go out together, each stamped when its publish call is made); latency = handler start − that
 * stamp, same process, `performance.now()`.
 */
async function segment(
  side: Side,
  topic: string,
  consumer: { onEvent: (seq: number) => void },
  base: number,
  s: LatencySettings,
): Promise<LatencySample> {
  const total = Math.max(1, Math.round(s.rate * s.seconds));
  const sentAt = new Float64Array(total);
  const latency = new Float64Array(total).fill(Number.NaN);
  let received = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  consumer.onEvent = (seq) => {
    const i = seq - base;
    if (i < 0 || i >= total || !Number.isNaN(latency[i]!)) return;
    latency[i] = now() - sentAt[i]!;
    if (++received === total) resolveAll();
  };
  const sends: Promise<void>[] = [];
  const start = now();
  for (let sent = 0; sent < total; ) {
    const due = Math.min(total, Math.floor(((now() - start) * s.rate) / 1000) + 1);
    if (due > sent) {
      const seqs: number[] = [];
      const t = now();
      for (let i = sent; i < due; i++) {
        sentAt[i] = t;
        seqs.push(base + i);
      }
      sends.push(side.send(topic, seqs));
      sent = due;
    }
    await tick();
  }
  await withTimeout(
    Promise.all([Promise.all(sends), all]),
    s.timeoutMs,
    `${side.variant} latency: ${received}/${total} events handled`,
  );
  const measured = Array.from(latency.subarray(Math.floor(total / 10)));
  return { p50: quantile(measured, 0.5), p99: quantile(measured, 0.99), events: measured.length };
}

/** p50/p99 at a fixed rate, raw JSON vs omnibus, alternating segments; never throws. */
export async function runLatency(broker: E2eBroker, s: LatencySettings): Promise<LatencyReport> {
  const id = `lat${runId()}`;
  const samples: Record<LatencyVariant, LatencySample[]> = { 'raw JSON': [], omnibus: [] };
  let fixture: Fixture;
  try {
    fixture = await openFixture(broker, s, id);
  } catch (error) {
    return {
      broker,
      status: 'skipped',
      note: `${broker} unavailable — skipped (${describe(error)})`,
      conditions: [],
      samples,
    };
  }
  const stops: (() => Promise<void>)[] = [];
  try {
    const live = [];
    for (const variant of LATENCY_VARIANTS) {
      const side = fixture.sides.find((x) => x.variant === variant)!;
      const topic = await side.fresh('latency');
      const consumer = { onEvent: (_seq: number) => {} };
      stops.push(await side.consume(topic, (seq) => consumer.onEvent(seq)));
      // Warms the connection and the consumer up before anything is timed.
      await side.send(topic, [-1]);
      live.push({ variant, side, topic, consumer });
    }
    let base = 0;
    for (let r = 0; r < s.runs; r++) {
      for (const v of r % 2 === 0 ? live : [...live].reverse()) {
        samples[v.variant].push(await segment(v.side, v.topic, v.consumer, base, s));
        base += Math.round(s.rate * s.seconds) + 1;
      }
      s.log?.(`${broker} latency run ${r + 1}/${s.runs} done`);
    }
    return {
      broker,
      status: 'ok',
      conditions: [
        `${s.rate} events/s offered for ${s.seconds} s per segment, one segment per contender per run, alternating, median of ${s.runs} runs; the first 10 % of each segment is warm-up`,
        'latency: publish call → handler start in the same process (performance.now()); events that fell due since the last 1 ms timer tick go out together',
        "raw JSON: Kafka coalesces the events arriving while a sendBatch is on the wire into the next one; RabbitMQ publishes each on a confirm channel; Redis pipelines each tick's XADDs; omnibus: one bus.publish per event",
        ...fixture.conditions.slice(0, -1),
      ],
      samples,
    };
  } catch (error) {
    return {
      broker,
      status: 'failed',
      note: `${broker} latency failed: ${describe(error)}`,
      conditions: [],
      samples,
    };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    await fixture.close().catch(() => {});
  }
}
