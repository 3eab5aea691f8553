// The shared conformance suite against a real RabbitMQ (skipped when none is found).
import { brokerUrl } from '@omnibus/brokers-dev';
import { describeConformance } from '@omnibus/conformance/vitest';

describeConformance(brokerUrl('amqp'), { name: 'rabbitmq' });
