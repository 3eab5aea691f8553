import { brokerUrl } from '@omnibus/brokers-dev';
import { describeConformance } from '@omnibus/conformance/vitest';
import { registerScheme } from '@omnibus/core';
import * as kafka from '../src/index.ts';

// Registered explicitly so the suite finds this adapter whatever the working directory (a root-level
// vitest run cannot resolve @omnibus/kafka from the core's package).
registerScheme('kafka', kafka);
const url = brokerUrl('kafka');
describeConformance(url, { name: 'kafka' });
// The whole suite again with the other producer client (consumers are kafkajs in both).
const separator = url?.includes('?') ? '&' : '?';
describeConformance(url && `${url}${separator}producer=kafkajs`, {
  name: 'kafka producer=kafkajs',
});
