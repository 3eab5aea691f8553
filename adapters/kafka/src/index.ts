export {
  createKafkaTransport,
  createTransport,
  KAFKA,
  KAFKA_CAPABILITIES,
  KAFKA_MAX_MESSAGE_BYTES,
  KafkaTransport,
  kafkaClient,
} from './adapter.ts';
export { createAdmin } from './admin.ts';
export {
  DEFAULT_OPTIONS,
  type KafkaOptions,
  parseKafkaUrl,
  redactKafkaUrl,
  type SaslMechanism,
} from './options.ts';
