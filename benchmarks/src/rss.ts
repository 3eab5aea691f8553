import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createAdmin, createBus } from '@omnibus/core';
import { describe } from './e2e.ts';
import { benchContract, sizedPayload } from './payload.ts';
import { ArrivalClock, runId, runWindowed, withTimeout } from './stats.ts';

// As in otel.ts: --expose-gc at runtime, so `pnpm bench` needs no node flag.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

export interface RssSettings {
  /** The bus of the run (any URL `createBus` takes; its topics are deleted afterwards). @default memory:// */
  url?: string;
  messages: number;
  size: number;
  inFlight: number;
  concurrency: number;
  timeoutMs: number;
  /** Samples over the run (plus one before the first event). @default 10 */
  samples?: number;
  log?: (line: string) => void;
}

export interface RssSample {
  /** Events published and handled before this sample. */
  events: number;
  /** Resident set size, bytes (after a full GC). */
  rss: number;
  /** V8 heap used after a full GC, bytes. */
  heapAfterGc: number;
  /** ArrayBuffers and Buffers (outside the V8 heap) after a full GC, bytes. */
  arrayBuffers: number;
}

export interface RssReport {
  /** What ran: `memory://` or the broker's scheme (`kafka`). */
  label: string;
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  conditions: string[];
  samples: RssSample[];
}

function sample(events: number): RssSample {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return { events, rss: usage.rss, heapAfterGc: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

/**
 * One bus (memory:// unless `url` is given) publishing `messages` events to a subscription of its own,
 * in chunks; after each chunk is published and handled, a full GC and a memory sample. "RSS flat" = end ≈
 * start after warm-up.
 */
export async function runRss(s: RssSettings): Promise<RssReport> {
  const chunks = Math.max(1, s.samples ?? 10);
  const id = runId();
  const url = s.url ?? `memory://omnibus-bench-rss-${id}`;
  const memory = url.startsWith('memory:');
  const label = memory ? 'memory://' : url.slice(0, url.indexOf(':'));
  const contract = benchContract(`omnibus-bench-rss-${id}`);
  const group = `bench-rss-${id}`;
  const payload = sizedPayload(s.size);
  const samples: RssSample[] = [];
  let bus: Awaited<ReturnType<typeof createBus>> | undefined;
  try {
    bus = await createBus({ url, source: 'urn:omnibus:bench' });
    await bus.provision(contract, { groups: [group] });
  } catch (error) {
    await bus?.close().catch(() => {});
    const note = `${label} unavailable — skipped (${describe(error)})`;
    return { label, status: 'skipped', note, conditions: [], samples };
  }
  try {
    const b = bus;
    let clock = new ArrivalClock(0);
    const subscription = await b.subscribe(
      contract,
      { group, concurrency: s.concurrency, maxAttempts: 1 },
      () => clock.tick(),
    );
    try {
      samples.push(sample(0));
      let done = 0;
      for (let c = 0; c < chunks; c++) {
        const n = Math.floor((s.messages * (c + 1)) / chunks) - done;
        clock = new ArrivalClock(n);
        await withTimeout(
          Promise.all([runWindowed(n, s.inFlight, () => b.publish(contract, payload)), clock.done]),
          s.timeoutMs,
          `${label} run: ${clock.count}/${n} events handled in chunk ${c + 1}`,
        );
        done += n;
        samples.push(sample(done));
        s.log?.(`rss ${label}: ${done}/${s.messages} events`);
      }
    } finally {
      await subscription.close();
    }
    return {
      label,
      status: 'ok',
      conditions: [
        `${memory ? 'memory:// bus' : `${label} bus (the adapter's defaults)`}, one subscription (concurrency ${s.concurrency}, maxAttempts 1), ${s.messages} events (${contract.encode(payload).length} B Avro body) published ${s.inFlight} in flight, in ${chunks} chunks`,
        'after each chunk is handled: two full GCs (global.gc via --expose-gc at runtime), then process.memoryUsage() — RSS and heap used',
        `RSS is the whole process: after other targets in the same run it includes their high-water mark (V8 and glibc keep freed pages); \`--broker ${memory ? 'rss' : `rss-${label}`}\` alone shows the SDK on its own`,
      ],
      samples,
    };
  } catch (error) {
    return {
      label,
      status: 'failed',
      note: `${label} run failed: ${describe(error)}`,
      conditions: [],
      samples,
    };
  } finally {
    await bus.close();
    if (!memory) await deleteTopics(url, [contract.topic, `${contract.topic}.dlq`], group);
  }
}

/** Best effort: what the run created on a real broker goes (fresh names every run, so leftovers are harmless). */
async function deleteTopics(url: string, topics: string[], group: string): Promise<void> {
  try {
    const admin = await createAdmin(url);
    try {
      for (const topic of topics) await admin.deleteTopic(topic, [group]).catch(() => {});
    } finally {
      await admin.close();
    }
  } catch {
    // No admin for this scheme, or the broker went away: nothing more to do.
  }
}
