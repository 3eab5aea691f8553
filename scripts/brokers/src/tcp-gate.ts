// A TCP forwarder that brokers.sh puts in front of ElasticMQ: `node src/tcp-gate.ts <port> <target-port>`.
// ElasticMQ answers HTTP before it has restored its queues and messages from H2 after a restart: a client
// then meets a missing queue, or sends and receives a key's newer events before its older ones are back —
// a half-restored broker that SQS never shows. ElasticMQ listens on a port of its own; brokers.sh opens
// this gate on the public port only once everything is restored, and closes it first on stop (clients see
// the broker go away, as they would). SIGTERM drops every connection at once.
import { connect, createServer, type Socket } from 'node:net';

const [port, target] = process.argv.slice(2).map(Number);
if (!Number.isInteger(port) || !Number.isInteger(target)) {
  console.error('usage: node src/tcp-gate.ts <port> <target-port>');
  process.exit(2);
}

const sockets = new Set<Socket>();
const server = createServer((client) => {
  const upstream = connect(target!, '127.0.0.1');
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
  }
  const drop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', drop).on('close', drop);
  upstream.on('error', drop).on('close', drop);
  client.pipe(upstream);
  upstream.pipe(client);
});
server.on('error', (error) => {
  console.error(`tcp-gate: ${error.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => console.log(`tcp-gate: 127.0.0.1:${port} -> 127.0.0.1:${target}`));
process.on('SIGTERM', () => {
  server.close();
  for (const socket of sockets) socket.destroy();
  process.exit(0);
});
