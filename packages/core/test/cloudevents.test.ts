import { expect, it } from 'vitest';
import { createBus, type DeadLetter, defineEvent, type EventContext } from '../src/index.ts';

const Thing = defineEvent({
  type: 'ce.thing',
  version: 1,
  avro: { type: 'record', name: 'Thing', fields: [{ name: 'n', type: 'int' }] } as const,
});

/** Events as a producer that is not omnibus might send them: the attributes it chose, nothing else. */
it('CloudEvents attributes: time is optional, the REQUIRED ones are required, an unreadable time says so', async () => {
  const bus = await createBus({ url: 'memory://cloudevents' });
  const handled: EventContext[] = [];
  const letters: DeadLetter[] = [];
  await bus.subscribe(Thing, { group: 'g', maxAttempts: 1 }, (_event, context) => void handled.push(context));
  await bus.subscribeDeadLetters(Thing, {}, (letter) => void letters.push(letter));
  const required = { ce_id: 'e1', ce_source: '/elsewhere', ce_specversion: '1.0', ce_type: Thing.type };
  const send = (headers: Record<string, string>) =>
    bus.publishRaw({ topic: Thing.topic, key: 'k', body: Thing.encode({ n: 1 }), headers });

  await send(required); // no ce_time
  await send({ ...required, ce_id: 'e2', ce_time: '2026-03-04T05:06:07.890Z' });
  const { ce_source: _omitted, ...noSource } = required;
  await send({ ...noSource, ce_id: 'e3' });
  await send({ ...required, ce_id: 'e4', ce_time: 'yesterday' });
  const deadline = Date.now() + 3_000;
  while ((handled.length < 2 || letters.length < 2) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(handled.map((c) => [c.id, c.source, c.time?.toISOString()])).toEqual([
    ['e1', '/elsewhere', undefined],
    ['e2', '/elsewhere', '2026-03-04T05:06:07.890Z'],
  ]);
  expect(letters.map((l) => [l.headers.ce_id, l.reason])).toEqual([
    ['e3', 'undecodable'],
    ['e4', 'undecodable'],
  ]);
  expect(letters[0]!.error).toMatch(/lacks the CloudEvents attribute\(s\) ce_source \(REQUIRED/);
  expect(letters[1]!.error).toMatch(/ce_time "yesterday", not an RFC 3339 timestamp/);
  await bus.close();
});

it('structured content mode: the JSON event format with the Avro bytes in data_base64, as a CloudEvents SDK sends it', async () => {
  const bus = await createBus({ url: 'memory://structured' });
  const handled: { n: number; context: EventContext }[] = [];
  const letters: DeadLetter[] = [];
  await bus.subscribe(
    Thing,
    { group: 'g', maxAttempts: 1 },
    (event, context) => void handled.push({ n: event.n, context }),
  );
  await bus.subscribeDeadLetters(Thing, {}, (letter) => void letters.push(letter));
  const structured = (event: Record<string, unknown>) =>
    bus.publishRaw({
      topic: Thing.topic,
      key: 'k',
      body: Buffer.from(JSON.stringify(event)),
      headers: { 'content-type': 'application/cloudevents+json; charset=UTF-8' },
    });
  const attributes = {
    specversion: '1.0',
    id: 's1',
    source: 'urn:sdk',
    type: Thing.type,
    datacontenttype: 'application/avro',
  };
  await structured({
    ...attributes,
    time: '2026-07-08T09:10:11Z',
    tenant: 'acme',
    data_base64: Thing.encode({ n: 7 }).toString('base64'),
  });
  await structured({ ...attributes, id: 's2', data: { n: 8 } });
  const deadline = Date.now() + 3_000;
  while ((handled.length < 1 || letters.length < 1) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(
    handled.map(({ n, context }) => [
      n,
      context.id,
      context.source,
      context.time?.toISOString(),
      context.headers,
    ]),
  ).toEqual([[7, 's1', 'urn:sdk', '2026-07-08T09:10:11.000Z', { tenant: 'acme' }]]);
  expect(letters.map((l) => l.error)).toEqual([
    expect.stringMatching(/JSON `data`: omnibus events are Avro single-object bytes, in `data_base64`/),
  ]);
  await bus.close();
});
