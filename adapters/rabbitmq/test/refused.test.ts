import { execFileSync } from 'node:child_process';
import { brokerUrl } from '@omnibus/brokers-dev';
import { MessageTooLargeError, type OutgoingMessage } from '@omnibus/core';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionQueueName } from '../src/topology.ts';
import { Fixture, uniqueTopic } from './support.ts';

const url = brokerUrl('amqp');
const LIMIT = 1024 * 1024;

/** The broker's `max_message_size`, when rabbitmqctl drives the broker under test (a local one). */
function maxMessageSize(): number | undefined {
  try {
    const out = execFileSync('rabbitmqctl', ['eval', 'application:get_env(rabbit, max_message_size).'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 20_000,
    });
    const match = /\{ok,(\d+)\}/.exec(out);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Sets `max_message_size` at run time: channels opened from now on take it. */
function setMaxMessageSize(bytes: number): void {
  execFileSync('rabbitmqctl', ['eval', `application:set_env(rabbit, max_message_size, ${bytes}).`], {
    stdio: 'ignore',
    timeout: 20_000,
  });
}

const original = url ? maxMessageSize() : undefined;

function event(topic: string, id: string, bytes: number): OutgoingMessage {
  return { topic, key: id, body: Buffer.alloc(bytes, 'x'), headers: { ce_id: id, ce_type: 'test.refused' } };
}

describe.skipIf(!url || original === undefined)(
  'rabbitmq: a message the broker refuses (max_message_size, set with rabbitmqctl)',
  () => {
    const fixture = new Fixture(url!);
    afterAll(async () => {
      setMaxMessageSize(original!); // the test restores it itself; this is the safety net
      await fixture.cleanUp();
    });

    it('fails only its own publish, at once, with MessageTooLargeError; the others are stored once each', async () => {
      const transport = await fixture.transport({ publishTimeoutMs: 5_000 });
      const topic = uniqueTopic('refused');
      fixture.track(topic, ['g']);
      await transport.provision(topic, ['g']);

      // Lowered only while the publisher opens its channel and publishes (a few seconds at most).
      setMaxMessageSize(LIMIT);
      let settled: PromiseSettledResult<void>[];
      let bigSettledAfterMs = 0;
      let again: unknown;
      try {
        await transport.publish(event(topic, 'first', 100)); // opens the channel under the lower limit
        const started = Date.now();
        const before = Array.from({ length: 13 }, (_, i) => transport.publish(event(topic, `b${i}`, 100)));
        const big = transport.publish(event(topic, 'big', 2 * LIMIT)).finally(() => {
          bigSettledAfterMs = Date.now() - started;
        });
        const after = Array.from({ length: 20 }, (_, i) => transport.publish(event(topic, `a${i}`, 100)));
        settled = await Promise.allSettled([big, ...before, ...after]);
        // Now the limit is known: a second one fails without reaching the broker.
        again = await transport.publish(event(topic, 'big-again', 2 * LIMIT)).catch((error) => error);
      } finally {
        setMaxMessageSize(original!);
      }

      const [bigResult, ...others] = settled;
      expect(bigResult!.status).toBe('rejected');
      const error = (bigResult as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(MessageTooLargeError);
      expect(error.message).toMatch(/2097152 bytes.*max_message_size.*1048576/);
      expect(error.message).not.toMatch(/alarm/);
      expect(bigSettledAfterMs).toBeLessThan(2_000); // not after publishTimeout (5 s) of re-sending
      expect(others.filter((r) => r.status === 'rejected').map((r) => String(r.reason))).toEqual([]);
      expect(again).toBeInstanceOf(MessageTooLargeError);
      expect(transport.capabilities.maxMessageBytes).toBe(LIMIT);

      // Each of the 34 small events is stored exactly once (a re-sent one would be there twice).
      const connection = await amqp.connect(url!);
      try {
        const channel = await connection.createChannel();
        let stored = 0;
        for (let p = 0; p < 4; p++)
          stored += (await channel.checkQueue(partitionQueueName(topic, 'g', p))).messageCount;
        expect(stored).toBe(34);
      } finally {
        await connection.close();
      }
    });
  },
);
