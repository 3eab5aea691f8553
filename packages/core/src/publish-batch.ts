import { BrokerError } from './errors.ts';
import type { OutgoingMessage, PublishOutcome, Transport } from './transport.ts';

/**
 * Publishes many messages: through the transport's own `publishBatch` when it has one, else one by one —
 * keys in parallel, each key's messages in array order. Either way, once a message fails, the later
 * messages of its key are not sent, so a caller retrying the failed ones cannot reorder the key.
 */
export async function publishAll(
  transport: Transport,
  messages: OutgoingMessage[],
): Promise<PublishOutcome[]> {
  if (transport.publishBatch) {
    const outcomes = await transport.publishBatch(messages);
    if (outcomes.length !== messages.length) {
      throw new BrokerError(
        `[${transport.name}] publishBatch returned ${outcomes.length} outcomes for ${messages.length} messages`,
      );
    }
    return outcomes;
  }
  const outcomes: PublishOutcome[] = new Array(messages.length).fill(undefined);
  const chains = new Map<string | undefined, number[]>();
  messages.forEach((message, index) => {
    // Unkeyed messages have no order to keep: each is a chain of its own.
    const chain = message.key === undefined ? `\u0000${index}` : message.key;
    const list = chains.get(chain) ?? [];
    list.push(index);
    chains.set(chain, list);
  });
  await Promise.all(
    [...chains.values()].map(async (indexes) => {
      let failed: Error | undefined;
      for (const index of indexes) {
        if (failed) {
          outcomes[index] = new BrokerError(
            `not sent: an earlier event of key "${messages[index]!.key}" in this batch failed (${failed.message})`,
          );
          continue;
        }
        try {
          await transport.publish(messages[index]!);
        } catch (error) {
          failed = error instanceof Error ? error : new Error(String(error));
          outcomes[index] = failed;
        }
      }
    }),
  );
  return outcomes;
}
