import { CeilingUnavailable, kafkaToolsClasspath } from './ceiling.ts';
import { openFixture } from './fixtures.ts';
import { ArrivalClock, CpuWindow, runId, withTimeout } from './stats.ts';

/**
 * The three contenders of the end-to-end table: a raw driver with JSON payloads (what a competent
 * engineer writes without omnibus), the raw driver sending omnibus's exact bytes and headers (driver
 * cost alone), and omnibus itself.
 */
export const VARIANTS = ['raw JSON', 'raw omnibus bytes', 'omnibus'] as const;
export type Variant = (typeof VARIANTS)[number];
export const PHASES = ['publish', 'consume', 'end-to-end'] as const;
export type Phase = (typeof PHASES)[number];

export interface Sample {
  /** Events per second. */
  rate: number;
  /** Process CPU (user + system) per event, µs. */
  cpuUs: number;
}

/** One broker's contender: how it makes a destination, publishes and consumes. */
export interface Side {
  variant: Variant;
  /** A fresh topic (and group) that nothing has used; returns its name. */
  fresh(tag: string): Promise<string>;
  /** `count` events, all acknowledged by the broker (throughput path: batches / windows). */
  publish(topic: string, count: number): Promise<void>;
  /** Events `seqs` now, as one batch where the driver batches (latency path); resolves when acked. */
  send(topic: string, seqs: number[]): Promise<void>;
  /** Starts consuming `topic`'s fresh group; `onEvent(seq)` per event (-1 when not decoded); resolves ready. */
  consume(topic: string, onEvent: (seq: number) => void): Promise<() => Promise<void>>;
}

export interface E2eSettings {
  messages: number;
  runs: number;
  size: number;
  inFlight: number;
  batch: number;
  concurrency: number;
  prefetch: number;
  timeoutMs: number;
  urls: { kafka: string; amqp: string; redis: string };
  /** Records per Kafka ceiling run. @default messages */
  ceilingRecords?: number;
  /** Fetch kafka-tools with Maven when it is not cached (the Kafka ceiling). @default true */
  fetchKafkaTools?: boolean;
  log?: (line: string) => void;
}

/** The brokers with a raw JSON baseline. */
export const E2E_BROKERS = ['kafka', 'amqp', 'redis'] as const;
export type E2eBroker = (typeof E2E_BROKERS)[number];

export interface E2eReport {
  broker: E2eBroker;
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  conditions: string[];
  /** samples[phase][variant]: one per run. */
  samples: Record<Phase, Record<Variant, Sample[]>>;
  /** Kafka only: the broker's own producer benchmark after each run's contenders. */
  ceiling?: CeilingReport;
}

/** ProducerPerformance records/s, one per run, or why it could not run. */
export interface CeilingReport {
  conditions: string[];
  rates: number[];
  /** `kafka ceiling unavailable — <reason>` when it did not run (then `rates` is empty). */
  note?: string;
}

/** A publish-only contender outside the three (Kafka's ProducerPerformance). */
export interface FixtureCeiling {
  conditions: string[];
  /** One run of `records` on a fresh topic; records/s. */
  measure(classpath: string, tag: string, records: number): Promise<number>;
}

export interface Fixture {
  sides: Side[];
  conditions: string[];
  ceiling?: FixtureCeiling;
  close(): Promise<void>;
}

export function emptySamples(): Record<Phase, Record<Variant, Sample[]>> {
  const byVariant = () =>
    ({ 'raw JSON': [], 'raw omnibus bytes': [], omnibus: [] }) as Record<Variant, Sample[]>;
  return { publish: byVariant(), consume: byVariant(), 'end-to-end': byVariant() };
}

/**
 * Per run, each contender in turn (the order rotates every run): publish N to a fresh topic
 * (publish-only), a fresh group consumes those N (consume-only), then with a consumer ready on a second
 * fresh topic, publish N and time the first publish call to the N-th event handled (end-to-end).
 */
export async function measureSides(
  sides: Side[],
  settings: { messages: number; runs: number; timeoutMs: number; log?: (line: string) => void },
  label: string,
  /** Runs after every contender of run `r` finished (outside every measured window). */
  afterRun?: (r: number) => Promise<void>,
): Promise<Record<Phase, Record<Variant, Sample[]>>> {
  const samples = emptySamples();
  const n = settings.messages;
  for (let r = 0; r < settings.runs; r++) {
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    for (const side of order) {
      const topic = await side.fresh(`${r}-a`);
      let meter = new CpuWindow();
      await withTimeout(
        side.publish(topic, n),
        settings.timeoutMs,
        `${label} ${side.variant} publish timed out`,
      );
      samples.publish[side.variant].push(meter.stop(n));

      let clock = new ArrivalClock(n);
      meter = new CpuWindow();
      let stop = await side.consume(topic, () => clock.tick());
      clock.start();
      await withTimeout(clock.done, settings.timeoutMs, `${label} ${side.variant} got ${clock.count}/${n}`);
      samples.consume[side.variant].push({ rate: clock.rate(), cpuUs: meter.stop(n).cpuUs });
      await stop();

      const second = await side.fresh(`${r}-b`);
      clock = new ArrivalClock(n);
      let last = 0;
      stop = await side.consume(second, () => {
        clock.tick();
        if (clock.count === n) last = performance.now();
      });
      meter = new CpuWindow();
      const published = side.publish(second, n);
      await withTimeout(
        Promise.all([published, clock.done]),
        settings.timeoutMs,
        `${label} ${side.variant} end-to-end got ${clock.count}/${n}`,
      );
      samples['end-to-end'][side.variant].push(meter.stop(n, last));
      await stop();
    }
    await afterRun?.(r);
    settings.log?.(`${label} end-to-end run ${r + 1}/${settings.runs} done`);
  }
  return samples;
}

/** Runs the end-to-end table of one broker; never throws (a failure is reported). */
export async function runE2e(broker: E2eBroker, s: E2eSettings): Promise<E2eReport> {
  const id = runId();
  let fixture: Fixture;
  try {
    fixture = await openFixture(broker, s, id);
  } catch (error) {
    return {
      broker,
      status: 'skipped',
      note: `${broker} unavailable — skipped (${describe(error)})`,
      conditions: [],
      samples: emptySamples(),
    };
  }
  try {
    const ceiling = fixture.ceiling ? await ceilingRunner(fixture.ceiling, s) : undefined;
    const samples = await measureSides(fixture.sides, s, broker, ceiling?.afterRun);
    return {
      broker,
      status: 'ok',
      conditions: [
        `${s.messages} events per run and phase, median of ${s.runs} runs; the contenders rotate order every run; fresh topic and group per phase`,
        'publish: first call → last broker ack; consume: a fresh group reads the N just published (clock: consumer ready → N-th delivery; CPU from consumer start); end-to-end: consumer ready on a fresh topic, first publish call → N-th event handled',
        ...fixture.conditions,
      ],
      samples,
      ...(ceiling ? { ceiling: ceiling.report } : {}),
    };
  } catch (error) {
    return {
      broker,
      status: 'failed',
      note: `${broker} end-to-end failed: ${describe(error)}`,
      conditions: [],
      samples: emptySamples(),
    };
  } finally {
    await fixture.close().catch(() => {});
  }
}

/**
 * Prepares the ceiling (Java, kafka-tools jars) and returns the hook that runs it once per run. Nothing
 * here fails the table: a ceiling that cannot run leaves one `kafka ceiling unavailable — …` line.
 */
async function ceilingRunner(
  ceiling: FixtureCeiling,
  s: E2eSettings,
): Promise<{ report: CeilingReport; afterRun?: (r: number) => Promise<void> }> {
  const report: CeilingReport = { conditions: ceiling.conditions, rates: [] };
  const unavailable = (error: unknown) => {
    const reason = error instanceof CeilingUnavailable ? error.message : describe(error);
    report.note = `kafka ceiling unavailable — ${reason}`;
    report.rates = [];
    s.log?.(report.note);
  };
  let classpath: string;
  try {
    classpath = await kafkaToolsClasspath(s.fetchKafkaTools ?? true, s.log);
  } catch (error) {
    unavailable(error);
    return { report };
  }
  const afterRun = async (r: number) => {
    if (report.note) return;
    try {
      const records = s.ceilingRecords || s.messages;
      report.rates.push(await ceiling.measure(classpath, `${r}-ceiling`, records));
    } catch (error) {
      unavailable(error);
    }
  };
  return { report, afterRun };
}

export function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}
