import type { Bus } from '@omnibus/core';
import type { BenchContract, BenchPayload } from './payload.ts';
import { ArrivalClock, now, perSecond, runWindowed, withTimeout } from './stats.ts';

export interface SdkSettings {
  /** Publishes kept in flight (un-awaited `bus.publish` calls). */
  inFlight: number;
  /** Subscription handler concurrency. */
  concurrency: number;
  /** Give up on a consume run after this long. */
  timeoutMs: number;
  /** The key of the `index`-th event; no key without it. */
  key?: (index: number) => string;
}

/** `bus.publish` × `count`, `inFlight` outstanding; msg/s from first call to last resolution. */
export async function sdkPublish(
  bus: Bus,
  contract: BenchContract,
  payload: BenchPayload,
  count: number,
  settings: SdkSettings,
): Promise<number> {
  const start = now();
  await withTimeout(
    runWindowed(count, settings.inFlight, (i) =>
      settings.key
        ? bus.publish(contract, payload, { key: settings.key(i) })
        : bus.publish(contract, payload),
    ),
    settings.timeoutMs,
    `SDK publish of ${count} events to ${contract.topic} did not finish within ${settings.timeoutMs} ms`,
  );
  return perSecond(count, now() - start);
}

/**
 * Subscribes with a fresh group that was provisioned before the events were published, and times the
 * handler calls from the subscription being ready (or the first call) to the `count`-th (the handler decodes nothing itself: the SDK has
 * already decoded and validated the event it receives).
 */
export async function sdkConsume(
  bus: Bus,
  contract: BenchContract,
  group: string,
  count: number,
  settings: SdkSettings,
): Promise<number> {
  const clock = new ArrivalClock(count);
  const subscription = await bus.subscribe(
    contract,
    { group, concurrency: settings.concurrency, maxAttempts: 1 },
    () => clock.tick(),
  );
  clock.start(); // subscribe resolves once the consumer is ready (Kafka: partitions assigned)
  try {
    await withTimeout(
      clock.done,
      settings.timeoutMs,
      `SDK subscriber got ${clock.count} of ${count} events from ${contract.topic} within ${settings.timeoutMs} ms`,
    );
  } finally {
    await subscription.close();
  }
  return clock.rate();
}
