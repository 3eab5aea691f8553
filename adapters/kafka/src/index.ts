export {
  createKafkaTransport,
  createTransport,
  KAFKA,
  KAFKA_CAPABILITIES,
  KAFKA_MAX_MESSAGE_BYTES,
  KafkaTransport,
} from './adapter.ts';
export {
  DEFAULT_OPTIONS,
  type KafkaOptions,
  parseKafkaUrl,
  redactKafkaUrl,
  type SaslMechanism,
} from './options.ts';
