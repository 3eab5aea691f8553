import { brokerUrl } from '@omnibus/brokers-dev';
import { BrokerError } from '@omnibus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyText, CuttableProxy, collector, Fixture, uniqueTopic, until } from './support.ts';

const url = brokerUrl('amqp');

describe.skipIf(!url)('rabbitmq connection loss', () => {
  const fixture = new Fixture(url!);
  let proxy: CuttableProxy | undefined;
  afterEach(async () => {
    await fixture.cleanUp();
    await proxy?.close();
  });

  /** What the transport logged: level and message. */
  const logged: string[] = [];
  const record = (level: string) => (_fields: Record<string, unknown>, message: string) =>
    void logged.push(`${level} ${message}`);
  const logger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };

  async function throughProxy(query: string) {
    const broker = new URL(url!);
    proxy = new CuttableProxy({ host: broker.hostname, port: Number(broker.port || 5672) });
    await proxy.listen();
    const viaProxy = new URL(url!);
    viaProxy.port = String(proxy.port);
    return fixture.transport(
      {},
      `${viaProxy.toString().replace(/\/$/, '')}/?reconnectDelay=50&reconnectMaxDelay=300${query}`,
      { logger },
    );
  }

  it('reconnects, re-declares and resumes consuming; publishes during the outage wait and then land', async () => {
    const transport = await throughProxy('');
    const topic = uniqueTopic('reconnect');
    fixture.track(topic, ['g']);
    const { request, deliveries, errors } = collector({
      topic,
      group: 'g',
      onDelivery: async (d) => {
        deliveries.push(d);
        await d.ack().catch(() => {}); // an ack on a dead channel fails: the broker redelivers it
      },
    });
    await transport.subscribe(request);
    for (let i = 0; i < 20; i++)
      await transport.publish({ topic, key: `k${i % 4}`, body: Buffer.from(String(i)), headers: {} });
    await until(
      () => deliveries.length >= 20,
      () => `${deliveries.length}/20 before the cut`,
    );

    proxy!.cut(true); // connections dropped, new ones refused for a while
    const during = Array.from({ length: 20 }, (_, i) =>
      transport.publish({ topic, key: `k${i % 4}`, body: Buffer.from(String(20 + i)), headers: {} }),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    proxy!.restore();
    await Promise.all(during);
    await until(
      () => new Set(deliveries.map(bodyText)).size === 40,
      () => `${new Set(deliveries.map(bodyText)).size}/40 after reconnecting`,
    );
    expect(errors).toEqual([]);
    // The outage reached the logger (the library itself prints nothing): lost, failed attempts, back.
    expect(logged[0]).toMatch(
      /^warn \[omnibus\] \[rabbitmq\] connection lost — reconnecting \(amqp:\/\/guest:\*\*\*@/,
    );
    expect(logged).toContainEqual(expect.stringMatching(/^debug .* reconnect attempt 1 failed/));
    expect(logged.at(-1)).toMatch(/^info .* reconnected after \d+ attempt\(s\)/);
  });

  it('fails a publish with a BrokerError when the outage outlasts publishTimeout', async () => {
    const transport = await throughProxy('&publishTimeout=400');
    const topic = uniqueTopic('outage');
    fixture.track(topic, ['g']);
    await transport.provision(topic, ['g']);
    proxy!.cut(true);
    const started = Date.now();
    const error = (await transport
      .publish({ topic, body: Buffer.from('x'), headers: {} })
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(/\[rabbitmq\].*(no connection|could not be sent|not confirmed)/);
    expect(error.message).not.toContain(':guest@');
    expect(Date.now() - started).toBeLessThan(3000);
    // What bus.health() reports meanwhile: the connection is being re-established.
    expect(transport.health()).toEqual({ connection: 'connecting', detail: 'reconnecting' });
    proxy!.restore();
    // Once the connection is back, publishing works again (a try may still race the reconnect).
    let recovered = false;
    for (let attempt = 0; attempt < 20 && !recovered; attempt++) {
      recovered = await transport.publish({ topic, body: Buffer.from('y'), headers: {} }).then(
        () => true,
        () => false,
      );
    }
    expect(recovered).toBe(true);
    expect(transport.health()).toEqual({ connection: 'up' });
  });
});
