/**
 * `bus.lag()`: the backlog of each consumer group the bus subscribes, as the broker counts it
 * (`Transport.lag`). Unlike `bus.health()` it asks the broker: one or two round trips per (topic, group).
 */

/** One (topic, group) the bus consumes, and how many of its events the group has not consumed yet. */
export interface SubscriptionLag {
  topic: string;
  group: string;
  /**
   * Events of `topic` that `group` has not consumed (acknowledged) yet, as the broker counts them — exact
   * or approximate, with or without deliveries in progress, depending on the adapter (see its README).
   * `undefined` when the adapter or the broker cannot tell.
   */
  lag: number | undefined;
}

/**
 * Asks `transport` for the lag of every distinct (topic, group) of `subscriptions`, all at once. Rejects
 * with the first failure once every lookup has settled (none is left running unobserved).
 */
export async function lagOf(
  transport: { lag?(topic: string, group: string): Promise<number | undefined> },
  subscriptions: Iterable<{ topic: string; group: string }>,
): Promise<SubscriptionLag[]> {
  const distinct = new Map<string, { topic: string; group: string }>();
  for (const { topic, group } of subscriptions) distinct.set(`${topic}\u0000${group}`, { topic, group });
  const pairs = [...distinct.values()];
  const lookup = transport.lag;
  if (!lookup) return pairs.map(({ topic, group }) => ({ topic, group, lag: undefined }));
  const answers = await Promise.allSettled(
    pairs.map(({ topic, group }) => lookup.call(transport, topic, group)),
  );
  const failed = answers.find((answer) => answer.status === 'rejected');
  if (failed) throw failed.reason;
  return pairs.map(({ topic, group }, i) => {
    const lag = (answers[i] as PromiseFulfilledResult<number | undefined>).value;
    return { topic, group, lag: typeof lag === 'number' && Number.isFinite(lag) ? lag : undefined };
  });
}
