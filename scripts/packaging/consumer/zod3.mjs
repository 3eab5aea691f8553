// The same service after `npm install zod@3` (npm lets a service override the peer range): a zod contract
// must fail with a ConfigError that names the zod versions that work, never a TypeError from inside.
import { defineEvent } from '@omnibus/core';
import { z } from 'zod';

try {
  defineEvent({ type: 'consumer.zod3', version: 1, zod: z.object({ orderId: z.string() }) });
  console.log(JSON.stringify({ ok: false, error: 'defineEvent accepted a zod 3 schema' }));
} catch (error) {
  const ok = error.code === 'CONFIG' && /zod 4 \(zod@\^4\.0\.0\)/.test(error.message);
  console.log(JSON.stringify({ ok, error: `${error.name}: ${error.message}` }));
}
