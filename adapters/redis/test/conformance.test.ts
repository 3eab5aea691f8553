import { brokerUrl } from '@omnibus/brokers-dev';
import { describeConformance } from '@omnibus/conformance/vitest';
import { registerScheme } from '@omnibus/core';
import * as redis from '../src/index.ts';

// Registered explicitly so the suite finds this adapter (and its admin and idempotency store) whatever the
// working directory (a root-level vitest run cannot resolve @omnibus/redis from the core's package).
registerScheme('redis', redis);
describeConformance(brokerUrl('redis'), { name: 'redis' });
