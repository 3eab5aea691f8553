import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBus } from '@omnibus/core';
import { benchContract, sizedPayload } from './payload.ts';
import { ArrivalClock, runId, runWindowed, withTimeout } from './stats.ts';

// As in otel.ts: --expose-gc at runtime, so `pnpm bench` needs no node flag.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

export interface RssSettings {
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
  status: 'ok' | 'failed';
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
 * One memory:// bus publishing `messages` events to a subscription of its own, in chunks; after each
 * chunk is published and handled, a full GC and a memory sample. "RSS flat" = end ≈ start after warm-up.
 */
export async function runRss(s: RssSettings): Promise<RssReport> {
  const chunks = Math.max(1, s.samples ?? 10);
  const id = runId();
  const bus = await createBus({ url: `memory://omnibus-bench-rss-${id}`, source: 'urn:omnibus:bench' });
  const contract = benchContract(`omnibus-bench-rss-${id}`);
  const payload = sizedPayload(s.size);
  const samples: RssSample[] = [];
  try {
    await bus.provision(contract, { groups: ['bench'] });
    let clock = new ArrivalClock(0);
    const subscription = await bus.subscribe(
      contract,
      { group: 'bench', concurrency: s.concurrency, maxAttempts: 1 },
      () => clock.tick(),
    );
    try {
      samples.push(sample(0));
      let done = 0;
      for (let c = 0; c < chunks; c++) {
        const n = Math.floor((s.messages * (c + 1)) / chunks) - done;
        clock = new ArrivalClock(n);
        await withTimeout(
          Promise.all([runWindowed(n, s.inFlight, () => bus.publish(contract, payload)), clock.done]),
          s.timeoutMs,
          `memory run: ${clock.count}/${n} events handled in chunk ${c + 1}`,
        );
        done += n;
        samples.push(sample(done));
        s.log?.(`rss: ${done}/${s.messages} events`);
      }
    } finally {
      await subscription.close();
    }
    return {
      status: 'ok',
      conditions: [
        `memory:// bus, one subscription (concurrency ${s.concurrency}, maxAttempts 1), ${s.messages} events (${contract.encode(payload).length} B Avro body) published ${s.inFlight} in flight, in ${chunks} chunks`,
        'after each chunk is handled: two full GCs (global.gc via --expose-gc at runtime), then process.memoryUsage() — RSS and heap used',
        'RSS is the whole process: after other targets in the same run it includes their high-water mark (V8 and glibc keep freed pages); `--broker rss` alone shows the SDK on its own',
      ],
      samples,
    };
  } catch (error) {
    return { status: 'failed', note: `memory run failed: ${String(error)}`, conditions: [], samples };
  } finally {
    await bus.close();
  }
}
