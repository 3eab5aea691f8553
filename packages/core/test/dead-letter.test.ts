import { expect, it } from 'vitest';
import { createBus, type DeadLetter, defineEvent } from '../src/index.ts';

const Big = defineEvent({
  type: 'dl.big',
  version: 1,
  avro: { type: 'record', name: 'Big', fields: [{ name: 'text', type: 'string' }] } as const,
});

it('dead-letters an event published at the size limit (dead-letter headers must not push it over)', async () => {
  const bus = await createBus('memory://dead-letter-limit?maxMessageBytes=1200');
  const letters: DeadLetter[] = [];
  const handled: string[] = [];
  await bus.subscribe(Big, { group: 'g', maxAttempts: 1, concurrency: 1 }, (event) => {
    if (event.text.startsWith('x')) throw new Error(`rejected: ${'why '.repeat(100)}`);
    handled.push(event.text);
  });
  await bus.subscribeDeadLetters(Big, {}, (letter) => void letters.push(letter));
  // Grow the payload to the limit, as a large real event would be.
  let text = 'x';
  while (true) {
    try {
      bus.encode(Big, { text: `${text}x` }, { key: 'k' });
      text += 'x';
    } catch {
      break;
    }
  }
  await bus.publish(Big, { text }, { key: 'k' });
  await bus.publish(Big, { text: 'next event of the same key' }, { key: 'k' });
  const deadline = Date.now() + 5_000;
  while ((letters.length < 1 || handled.length < 1) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  await bus.close();
  expect(letters).toHaveLength(1);
  expect(Big.decode(letters[0]!.body)).toEqual({ text });
  expect(letters[0]!.error).toMatch(/^rejected: why/);
  expect(handled).toEqual(['next event of the same key']);
});
