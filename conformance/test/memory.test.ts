import { describeConformance } from '../src/vitest.ts';

describeConformance('memory://', { name: 'memory' });
