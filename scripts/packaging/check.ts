/**
 * pnpm packaging [--node PATH]...
 *
 * Proves the packages install into a real service. For every publishable workspace package (found by
 * pnpm, so new adapters are covered without editing this file): `pnpm pack` (prepack builds), check the
 * tarball (contents, manifest, LICENSE, README), publint and attw. Then, in a project outside the
 * workspace, `npm install` the tarballs with zod, type-check a TypeScript service with TypeScript 5 and
 * run a plain-JavaScript service with each `--node` (default: this Node) on memory:// and on every broker
 * of .brokers/brokers.env (or KAFKA_URL, AMQP_URL, REDIS_URL, SQS_URL), run the published conformance
 * CLI, and finally swap in zod 3 to see the ConfigError a zod 3 user gets. Exit 0 only if all passed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseEnvFile } from '../brokers/src/global-setup.ts';
import { BROKER_KINDS, ENV_VARS, redactUrl } from '../brokers/src/urls.ts';
import {
  createConsumerProject,
  installProblems,
  type RunOutcome,
  runConformanceCli,
  runService,
  runWithZod3,
  typeCheck,
} from './consumer.ts';
import { pack, problemsOf, type Tarball } from './tarball.ts';
import { publishablePackages, ROOT } from './workspace.ts';

const { values } = parseArgs({ options: { node: { type: 'string', multiple: true } } });
const nodes = values.node ?? [process.execPath];
const failures: string[] = [];
const step = (title: string) => console.log(`\n=== ${title} ===`);
const fail = (where: string, problems: string[]) => {
  for (const problem of problems) failures.push(`${where}: ${problem}`);
};

const packages = publishablePackages();
step(`pack ${packages.length} publishable packages`);
const outDir = mkdtempSync(join(tmpdir(), 'omnibus-tarballs-'));
const tarballs: Tarball[] = packages.map((pkg) => pack(pkg, outDir));
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;
console.log('| package | tarball | unpacked | files |\n|---|---|---|---|');
for (const t of tarballs) {
  console.log(
    `| ${t.manifest.name}@${t.manifest.version} | ${kb(t.bytes)} | ${kb(t.unpackedBytes)} | ${t.files.length} |`,
  );
}

step('tarball contents and manifests, publint, attw (ESM-only profile)');
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);
for (const t of tarballs) {
  fail(t.manifest.name, problemsOf(t, tarballs));
  for (const [tool, args] of [
    ['publint', ['run', t.file, '--strict']],
    ['attw', [t.file, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji']],
  ] as const) {
    try {
      execFileSync(bin(tool), args, { encoding: 'utf8', stdio: 'pipe' });
      console.log(`${t.manifest.name}: ${tool} clean`);
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      fail(t.manifest.name, [`${tool} failed:\n${stdout}${stderr}`]);
    }
  }
}

step('consumer project outside the workspace: npm install the tarballs and zod');
const consumer = createConsumerProject(tarballs);
console.log(consumer);
fail('install', installProblems(consumer, tarballs));

step('type-check service.ts with TypeScript 5 (strict, nodenext, skipLibCheck: false)');
fail('service.ts', typeCheck(consumer));

step('run service.mjs on each Node and broker');
const brokersEnv = join(ROOT, '.brokers/brokers.env');
const fromFile = existsSync(brokersEnv) ? parseEnvFile(readFileSync(brokersEnv, 'utf8')) : {};
const urls = [
  'memory://',
  ...BROKER_KINDS.flatMap((k) => process.env[ENV_VARS[k]] ?? fromFile[ENV_VARS[k]] ?? []),
];
const packed = tarballs.map((t) => t.manifest.name);
const report = (label: string, outcome: RunOutcome) => {
  console.log(`${label.padEnd(60)} ${outcome.status} (${outcome.seconds.toFixed(1)} s)`);
  if (outcome.status === 'skipped') console.log(`  ${outcome.detail}`);
  if (outcome.status === 'failed') fail(label, [outcome.detail]);
};
for (const node of nodes) {
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  for (const url of urls)
    report(`node ${version} service.mjs ${redactUrl(url)}`, runService(consumer, node, url, packed));
  if (packed.includes('@omnibus/conformance')) {
    report(`node ${version} omnibus-conformance memory://`, runConformanceCli(consumer, node));
  }
}

step('the same service with zod 3 installed instead of zod 4');
report('zod3.mjs', runWithZod3(consumer, nodes.at(-1)!));

step(failures.length === 0 ? 'packaging: all checks passed' : `packaging: ${failures.length} problem(s)`);
for (const failure of failures) console.log(`- ${failure}`);
if (failures.length > 0) {
  console.log(`kept for a look: tarballs in ${outDir}, consumer project in ${consumer}`);
} else {
  for (const dir of [outDir, consumer]) rmSync(dir, { recursive: true, force: true });
}
process.exit(failures.length === 0 ? 0 : 1);
