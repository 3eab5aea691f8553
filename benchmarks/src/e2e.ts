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
}

export interface Fixture {
  sides: Side[];
  conditions: string[];
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
    const samples = await measureSides(fixture.sides, s, broker);
    return {
      broker,
      status: 'ok',
      conditions: [
        `${s.messages} events per run and phase, median of ${s.runs} runs; the contenders rotate order every run; fresh topic and group per phase`,
        'publish: first call → last broker ack; consume: a fresh group reads the N just published (clock: consumer ready → N-th delivery; CPU from consumer start); end-to-end: consumer ready on a fresh topic, first publish call → N-th event handled',
        ...fixture.conditions,
      ],
      samples,
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

export function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}
