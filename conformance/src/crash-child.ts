/**
 * Child process for the crash case: subscribes to `topic` with `group`, completes the first `complete`
 * events (reporting each id to the parent), then holds every further event unacknowledged forever,
 * reporting it as started. The parent kills it with SIGKILL.
 * argv: <url> <topic> <group> <complete>
 */
import { createBus } from '@omnibus/core';
import { testContract } from './harness.ts';

const [url, topic, group, completeText] = process.argv.slice(2);
const send = (message: object) => process.send?.(message);
const bus = await createBus({ url: url!, onError: (error) => send({ error: error.message }) });
let completed = 0;
await bus.subscribe(testContract(topic!), { group: group!, concurrency: 4 }, async (_event, context) => {
  if (completed < Number(completeText)) {
    completed++;
    send({ done: context.id });
    return;
  }
  send({ holding: context.id });
  await new Promise(() => {}); // never settles: the event stays unacknowledged until the kill
});
send({ ready: true });
