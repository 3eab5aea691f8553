import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { createBus, type Logger } from '@omnibus/core';
import { type ConformanceCase, check } from '../harness.ts';

/**
 * Puts a sentinel password into the URL under test in every malformed shape a user can type — unencoded
 * `/`, `#`, `?`, `@`, a bad `%`, a one-slash scheme, a bad port, an empty host, an unreachable port — opens
 * a bus with each, and scans everything that comes back for the password: error messages, stacks, causes
 * and their properties (as `util.inspect` shows them, which is what `console.error` and Node's
 * unhandled-rejection printout show) and every log line the library and its driver wrote.
 */
function variants(url: string, secret: string): { shape: string; url: string }[] {
  const parsed = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#]*@)?([^/?#]*)(.*)$/i.exec(url);
  const scheme = parsed?.[1] ?? 'memory';
  const host = parsed?.[2] || 'localhost';
  const rest = parsed?.[3] ?? '';
  const hostname = host.replace(/:\d+$/, '').split(',')[0] || 'localhost';
  return [
    {
      shape: 'well-formed, wrong password',
      url: `${scheme}://omnibus:${encodeURIComponent(secret)}@${host}${rest}`,
    },
    { shape: "unencoded '/' in the password", url: `${scheme}://omnibus:${secret}/x@${host}${rest}` },
    { shape: "unencoded '#' in the password", url: `${scheme}://omnibus:${secret}#x@${host}${rest}` },
    { shape: "unencoded '?' in the password", url: `${scheme}://omnibus:${secret}?x@${host}${rest}` },
    { shape: "unencoded '@' in the password", url: `${scheme}://omnibus:${secret}@x@${host}${rest}` },
    { shape: "a bad '%' escape in the password", url: `${scheme}://omnibus:${secret}%zz@${host}${rest}` },
    { shape: 'one slash after the scheme', url: `${scheme}:/omnibus:${secret}@${host}${rest}` },
    { shape: 'an invalid port', url: `${scheme}://omnibus:${secret}@${hostname}:99999${rest}` },
    { shape: 'an empty host', url: `${scheme}://omnibus:${secret}@:1${rest}` },
    { shape: 'nothing listening', url: `${scheme}://omnibus:${secret}@127.0.0.1:1${rest}` },
  ];
}

/** Every line a logger receives, fields included, as text. */
function recordingLogger(lines: string[]): Logger {
  const record = (fields: Record<string, unknown>, message: string) =>
    void lines.push(`${message} ${inspect(fields, { depth: 6 })}`);
  return { debug: record, info: record, warn: record, error: record };
}

/** Opens and closes a bus on `url`: what `createBus` threw, and everything reported or thrown besides. */
async function attempt(url: string, logger: Logger): Promise<{ thrown: unknown; seen: unknown[] }> {
  const seen: unknown[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 20_000);
  });
  const opening = createBus({ url, logger, onError: (error) => void seen.push(error) });
  const outcome = await Promise.race([
    opening.then(
      (bus) => ({ bus }),
      (error: unknown) => ({ error }),
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    // Still connecting: let it finish in the background and close it; what it throws later is scanned too.
    void opening.then(
      (bus) => bus.close(),
      (error: unknown) => seen.push(error),
    );
    return { thrown: undefined, seen };
  }
  if ('error' in outcome) return { thrown: outcome.error, seen: [outcome.error, ...seen] };
  await outcome.bus.close().catch((error: unknown) => seen.push(error));
  return { thrown: undefined, seen };
}

const credentials: ConformanceCase = {
  name: 'credentials-never-printed',
  requires: [],
  timeoutMs: 300_000,
  async run(ctx) {
    const secret = `Pw0rd-${randomBytes(6).toString('hex')}`;
    const leaks: string[] = [];
    const untyped: string[] = [];
    for (const variant of variants(ctx.url, secret)) {
      const lines: string[] = [];
      const { thrown, seen } = await attempt(variant.url, recordingLogger(lines));
      if (thrown !== undefined && typeof (thrown as { code?: unknown }).code !== 'string') {
        const e = thrown as Error;
        untyped.push(
          `${variant.shape}: ${e?.name ?? typeof thrown} «${String(e?.message ?? thrown).slice(0, 80)}»`,
        );
      }
      const texts = [
        ...seen.map((e) => `${String(e)}\n${(e as Error)?.stack ?? ''}\n${inspect(e, { depth: 8 })}`),
        ...lines,
      ];
      const leaked = texts.find((text) => text.includes(secret));
      if (leaked) {
        const at = leaked.indexOf(secret);
        leaks.push(
          `${variant.shape}: «…${leaked.slice(Math.max(0, at - 60), at).replace(/\s+/g, ' ')}<password>…»`,
        );
      }
    }
    check(
      leaks.length === 0,
      () => `the password was printed in ${leaks.length} URL shape(s): ${leaks.join('; ')}`,
    );
    check(
      untyped.length === 0,
      () => `${untyped.length} URL shape(s) threw an error without an omnibus code: ${untyped.join('; ')}`,
    );
  },
};

export const credentialCases = [credentials];
