import { expect, it } from 'vitest';
import { z as z3 } from 'zod3';
import { ConfigError, defineEvent } from '../src/index.ts';

it('a zod 3 schema fails defineEvent with a ConfigError naming the zod versions that work', () => {
  const define = () =>
    defineEvent({
      type: 'shop.order.placed',
      version: 1,
      // @ts-expect-error a zod 3 schema is not a zod 4 type: TypeScript users see it at compile time
      zod: z3.object({ orderId: z3.string() }),
    });
  expect(define).toThrow(ConfigError);
  expect(define).toThrow(/`zod` is a zod 3 schema — omnibus reads schemas of zod 4 \(zod@\^4\.0\.0\)/);
});

it('anything else given as `zod` is a ConfigError too, not a TypeError from inside', () => {
  const define = () => defineEvent({ type: 'shop.order.placed', version: 1, zod: {} as never });
  expect(define).toThrow(/`zod` is not a zod schema/);
});
