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
