import type { ConformanceCase } from '../harness.ts';
import { basicCases } from './basics.ts';
import { closeCases } from './close.ts';
import { crashCases } from './crash.ts';
import { credentialCases } from './credentials.ts';
import { deliveryCases } from './delivery.ts';
import { groupCases } from './groups.ts';
import { orderingCases } from './ordering.ts';
import { restartCases } from './restart.ts';
import { schemaCases } from './schema.ts';

/** Every case, in the order reports list them. */
export const allCases: ConformanceCase[] = [
  ...basicCases,
  ...schemaCases,
  ...groupCases,
  ...orderingCases,
  ...deliveryCases,
  ...crashCases,
  ...closeCases,
  ...restartCases,
  ...credentialCases,
];
