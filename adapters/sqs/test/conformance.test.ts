import { brokerUrl } from '@omnibus/brokers-dev';
import { describeConformance } from '@omnibus/conformance/vitest';
import { registerScheme } from '@omnibus/core';
import * as sqs from '../src/index.ts';

// Registered explicitly so the suite finds this adapter (and its admin) whatever the working directory.
registerScheme('sqs', sqs);
// 10 s visibility timeouts (30 s by default): the crash cases wait out a dead consumer's timeout.
const url = brokerUrl('sqs');
describeConformance(
  url && `${url}${url.includes('?') ? '&' : '?'}visibilityTimeoutMs=10000&waitTimeSeconds=2`,
  {
    name: 'sqs',
  },
);
