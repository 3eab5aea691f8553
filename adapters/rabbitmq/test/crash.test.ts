import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { brokerUrl } from '@omnibus/brokers-dev';
import { afterEach, describe, expect, it } from 'vitest';
import { Fixture, KeyedConsumer, keyOrderViolations, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

describe.skipIf(!url)('rabbitmq crash: a SIGKILLed consumer loses nothing', () => {
  const fixture = new Fixture(url!);
  afterEach(() => fixture.cleanUp());

  it('hands the partitions of a killed instance, with what it held, to the standby in order', async () => {
    const topic = uniqueTopic('crash');
    fixture.track(topic, ['g']);
    const publisher = await fixture.transport();
    await publisher.provision(topic, ['g']);

    const child = fork(fileURLToPath(new URL('./fixtures/holder.ts', import.meta.url)), [url!, topic, 'g'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const held = new Set<string>();
    let ready = false;
    child.on('message', (m: { ready?: boolean; holding?: string }) => {
      if (m.ready) ready = true;
      if (m.holding) held.add(m.holding);
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await until(
        () => ready,
        () => 'child subscriber to be ready',
      );
      // The survivor registers second: a standby on every partition the child is active on.
      const starts: KeyedConsumer['starts'] = [];
      const survivor = new KeyedConsumer('survivor', starts);
      const standby = await fixture.transport();
      await standby.subscribe({
        topic,
        group: 'g',
        maxInFlight: 16,
        onDelivery: survivor.onDelivery,
        onError: () => {},
      });
      for (let seq = 0; seq < 200; seq++) {
        await publisher.publish({ topic, key: `k${seq % 10}`, body: Buffer.from(String(seq)), headers: {} });
      }
      await until(
        () => held.size >= 10,
        () => `child holds ${held.size} deliveries`,
      );
      child.kill('SIGKILL');
      await exited;
      await until(
        () => new Set(starts.map((s) => s.body)).size === 200,
        () => `survivor completed ${new Set(starts.map((s) => s.body)).size}/200`,
      );
      const completed = new Set(starts.map((s) => s.body));
      expect([...held].filter((body) => !completed.has(body))).toEqual([]);
      expect(keyOrderViolations(starts)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
