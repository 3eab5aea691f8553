import type { Delivery } from '@omnibus/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeAll, KAFKA_URL, message, openTransport, PRODUCERS, uniqueName, waitUntil } from './helpers.ts';

// Its own file (its own process): Node emits a warning at most where kafkajs schedules a negative timer,
// and no earlier test may have run kafkajs in this process before the listener is in place.
describe.skipIf(!KAFKA_URL)('kafka: the adapter prints nothing of its own or of kafkajs', () => {
  afterEach(closeAll);

  it.each(PRODUCERS)(
    'publishing and consuming raise no TimeoutNegativeWarning and write nothing to the console (%s producer)',
    async (producer) => {
      const warnings: string[] = [];
      const onWarning = (warning: Error) => void warnings.push(warning.name);
      process.on('warning', onWarning);
      const consoleCalls = (['log', 'info', 'warn', 'error'] as const).map((m) => vi.spyOn(console, m));
      try {
        const transport = await openTransport({ logLevel: 'info', producer });
        const topic = uniqueName('manners');
        await transport.provision(topic, ['g']);
        for (let i = 0; i < 5; i++) await transport.publish(message(topic, i));
        const received: Delivery[] = [];
        await transport.subscribe({
          topic,
          group: 'g',
          maxInFlight: 10,
          onDelivery: async (d) => {
            received.push(d);
            await d.ack();
          },
          onError: (e) => expect.fail(e.message),
        });
        await waitUntil(
          () => received.length === 5,
          () => `received ${received.length}/5`,
        );
        await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings).not.toContain('TimeoutNegativeWarning');
      for (const spy of consoleCalls) expect(spy).not.toBeCalled();
    },
  );
});
