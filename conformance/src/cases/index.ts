import type { ConformanceCase } from '../harness.ts';
import { basicCases } from './basics.ts';
import { deliveryCases } from './delivery.ts';
import { groupCases } from './groups.ts';
import { orderingCases } from './ordering.ts';
import { schemaCases } from './schema.ts';

/** Every case, in the order reports list them. */
export const allCases: ConformanceCase[] = [
  ...basicCases,
  ...schemaCases,
  ...groupCases,
  ...orderingCases,
  ...deliveryCases,
];
