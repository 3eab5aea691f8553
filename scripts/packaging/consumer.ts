import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tarball } from './tarball.ts';
import { cleanEnvironment, ROOT } from './workspace.ts';

const FIXTURES = join(ROOT, 'scripts/packaging/consumer');

/** A project outside the workspace with the tarballs installed by npm, as a user's service would. */
export function createConsumerProject(tarballs: Tarball[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'omnibus-consumer-'));
  if (dir.startsWith(`${ROOT}/`)) throw new Error(`${dir} is inside the workspace`);
  writeFileSync(
    join(dir, 'package.json'),
    '{ "name": "consumer-service", "private": true, "type": "module" }\n',
  );
  for (const file of ['service.mjs', 'service.ts', 'tsconfig.json', 'zod3.mjs'])
    copyFileSync(join(FIXTURES, file), join(dir, file));
  // Every export of every package, so that tsc reads all of their declarations.
  const entries = tarballs.flatMap((t) =>
    Object.keys(t.manifest.exports ?? {})
      .filter((entry) => entry !== './package.json')
      .map(
        (entry, i) =>
          `export * as ${identifier(t.manifest.name)}${i} from '${t.manifest.name}${entry.slice(1)}';`,
      ),
  );
  writeFileSync(join(dir, 'entries.ts'), `${entries.join('\n')}\n`);
  // @opentelemetry/api is an optional peer of @omnibus/core: a service that imports
  // @omnibus/core/opentelemetry installs it, as this one (which type-checks every entry point) does.
  npmInstall(dir, [
    ...tarballs.map((t) => t.file),
    'zod@4',
    '@opentelemetry/api@^1.9.0',
    'typescript@5',
    '@types/node',
  ]);
  return dir;
}

function npmInstall(dir: string, specs: string[]): void {
  const install = ['install', '--no-audit', '--no-fund', '--loglevel=error'];
  execFileSync('npm', [...install, ...specs], { cwd: dir, env: cleanEnvironment(), stdio: 'inherit' });
}

const identifier = (name: string) => name.replace(/^@/, '').replace(/[^A-Za-z0-9]+/g, '_');

/** Problems with how npm laid the packages out (each package must share the service's one core). */
export function installProblems(dir: string, tarballs: Tarball[]): string[] {
  return tarballs
    .filter((t) => existsSync(join(dir, 'node_modules', t.manifest.name, 'node_modules', '@omnibus/core')))
    .map((t) => `${t.manifest.name} got its own copy of @omnibus/core (instanceof would break)`);
}

/** TypeScript 5 in the consumer project, with the user's strict settings (tsconfig.json). */
export function typeCheck(dir: string): string[] {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], {
    cwd: dir,
    env: cleanEnvironment(),
    encoding: 'utf8',
  });
  return tsc.status === 0 ? [] : [`tsc (TypeScript 5) failed:\n${tsc.stdout}${tsc.stderr}`];
}

export type RunOutcome = { status: 'passed' | 'skipped' | 'failed'; detail: string; seconds: number };

/** `node ARGS` in the consumer project, in a user's clean environment. */
function runNode(dir: string, node: string, args: string[], env: Record<string, string> = {}) {
  const started = Date.now();
  const result = spawnSync(node, args, {
    cwd: dir,
    env: cleanEnvironment(env),
    encoding: 'utf8',
    timeout: 180_000,
  });
  const lastLine = result.stdout.trim().split('\n').at(-1) ?? '';
  const failure = (why: string) => `${result.error?.message ?? why}\n${result.stdout}${result.stderr}`;
  return { ...result, lastLine, failure, seconds: (Date.now() - started) / 1000 };
}

/** Runs service.mjs with one Node binary against one broker URL; `packed` names the adapters we built. */
export function runService(dir: string, node: string, url: string, packed: string[]): RunOutcome {
  const run = runNode(dir, node, ['service.mjs'], { BROKER_URL: url });
  const report = (() => {
    try {
      return JSON.parse(run.lastLine) as { ok?: boolean; adapterMissing?: string };
    } catch {
      return {};
    }
  })();
  const { seconds } = run;
  if (run.status === 3 && report.adapterMissing && !packed.includes(report.adapterMissing)) {
    return { status: 'skipped', detail: `no ${report.adapterMissing} package in the workspace yet`, seconds };
  }
  // A library has manners: the service's one JSON line is all that may be printed.
  const quiet = run.stderr === '' && run.stdout.trim() === run.lastLine;
  if (run.status === 0 && report.ok && quiet) return { status: 'passed', detail: run.lastLine, seconds };
  const why = `exit ${run.status}${quiet ? '' : ' (something besides the service printed output)'}`;
  return { status: 'failed', detail: run.failure(why), seconds };
}

/** The published conformance CLI (its bin, its crash child) on memory://. */
export function runConformanceCli(dir: string, node: string): RunOutcome {
  const run = runNode(dir, node, ['node_modules/.bin/omnibus-conformance', 'memory://']);
  // Skips name a capability memory:// lacks or an option not given (broker-restart); failures are what count.
  const passed = run.status === 0 && /^\d+ passed, 0 failed, \d+ skipped$/.test(run.lastLine);
  const detail = passed ? run.lastLine : run.failure(`exit ${run.status}`);
  return { status: passed ? 'passed' : 'failed', detail, seconds: run.seconds };
}

/** Last (it changes the project): with zod 3 installed, a zod contract is a ConfigError naming zod 4. */
export function runWithZod3(dir: string, node: string): RunOutcome {
  npmInstall(dir, ['zod@3']);
  const run = runNode(dir, node, ['zod3.mjs']);
  const ok = run.status === 0 && run.lastLine.startsWith('{"ok":true');
  return {
    status: ok ? 'passed' : 'failed',
    detail: ok ? run.lastLine : run.failure(`exit ${run.status}`),
    seconds: run.seconds,
  };
}
