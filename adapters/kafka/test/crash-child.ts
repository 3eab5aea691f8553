// Child process for crash.test.ts: subscribes with the Kafka transport, acks the first `ackFirst`
// deliveries, holds every later one unsettled and reports each to the parent, which SIGKILLs it.
// argv: <url> <topic> <group> <ackFirst>
import { createKafkaTransport } from '../src/index.ts';

const [url, topic, group, ackFirst] = process.argv.slice(2);
const transport = createKafkaTransport(url!, { sessionTimeoutMs: 6000, logLevel: 'nothing' });
await transport.connect();
let acked = 0;
await transport.subscribe({
  topic: topic!,
  group: group!,
  maxInFlight: 50,
  onDelivery: async (delivery) => {
    const seq = delivery.headers.seq;
    if (acked < Number(ackFirst)) {
      acked++;
      await delivery.ack();
      process.send?.({ acked: seq });
    } else {
      process.send?.({ holding: seq });
    }
  },
  onError: (error) => process.send?.({ error: error.message }),
});
process.send?.({ ready: true });
