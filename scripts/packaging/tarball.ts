import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Manifest, ROOT, readManifest, type WorkspacePackage } from './workspace.ts';

/** A packed package: the tarball a user would download, and what is inside it. */
export interface Tarball {
  pkg: WorkspacePackage;
  file: string;
  bytes: number;
  unpackedBytes: number;
  /** Paths inside the tarball, relative to its `package/` folder. */
  files: string[];
  /** The manifest as published (workspace: ranges replaced by pnpm). */
  manifest: Manifest;
  /** Where the tarball was unpacked. */
  dir: string;
}

/** `pnpm pack` (which runs `prepack`, so the build is fresh), then unpacks it to look inside. */
export function pack(pkg: WorkspacePackage, outDir: string): Tarball {
  const output = execFileSync('pnpm', ['pack', '--pack-destination', outDir, '--json'], {
    cwd: pkg.dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const file = (JSON.parse(output.slice(output.indexOf('{'))) as { filename: string }).filename;
  const dir = join(outDir, 'unpacked', pkg.name.replace('/', '+'));
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', file, '-C', dir, '--strip-components=1']);
  const files = walk(dir).map((f) => relative(dir, f));
  const unpackedBytes = files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  return { pkg, file, bytes: statSync(file).size, unpackedBytes, files, manifest: readManifest(dir), dir };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const SHIPPED = /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/.+|src\/.+)$/;
const NEVER_SHIPPED =
  /(^|\/)(test|tests|__tests__|fixtures)\/|\.(test|spec)\.|vitest\.config|tsconfig|tsbuildinfo/;
const CONDITIONS = ['@omnibus/source', 'types', 'import'];

/** What is wrong with a tarball, in words; empty when it is fit to publish. */
export function problemsOf(tarball: Tarball, all: Tarball[]): string[] {
  const { manifest: m, files, pkg } = tarball;
  const root = readManifest(ROOT);
  const problems: string[] = [];
  const expect = (ok: unknown, problem: string) => void (ok || problems.push(problem));

  for (const f of files) {
    expect(SHIPPED.test(f) && !NEVER_SHIPPED.test(f), `ships ${f} (only dist/, src/, README, LICENSE)`);
  }
  expect(!readFileSync(join(tarball.dir, 'package.json'), 'utf8').includes('workspace:'), 'says workspace:');
  expect(files.includes('README.md'), 'has no README.md');
  expect(
    files.includes('LICENSE') &&
      readFileSync(join(tarball.dir, 'LICENSE'), 'utf8') === readFileSync(join(ROOT, 'LICENSE'), 'utf8'),
    'has no LICENSE, or one that differs from the root LICENSE',
  );
  for (const js of files.filter((f) => /^dist\/.+\.js$/.test(f))) {
    for (const companion of [`${js}.map`, js.replace(/\.js$/, '.d.ts'), js.replace(/\.js$/, '.d.ts.map')]) {
      expect(files.includes(companion), `${js} ships without ${companion}`);
    }
  }

  expect(m.license === root.license, `license is ${m.license}, not the root's ${root.license}`);
  expect(m.repository?.url === root.repository?.url, 'repository.url differs from the root');
  expect(m.repository?.directory === pkg.path, `repository.directory is not ${pkg.path}`);
  expect(m.engines?.node, 'no engines.node');
  expect(m.type === 'module' && m.sideEffects === false, 'not "type": "module" with "sideEffects": false');
  expect(
    all.every((t) => t.manifest.version === m.version),
    'version differs from the other packages',
  );
  for (const [entry, target] of Object.entries(m.exports ?? {})) {
    if (entry === './package.json') continue;
    const keys = typeof target === 'string' ? [] : Object.keys(target);
    expect(
      keys.join() === CONDITIONS.join(),
      `exports["${entry}"] conditions are not ${CONDITIONS.join(', ')}`,
    );
  }
  const peers = m.peerDependencies ?? {};
  const framework = pkg.name === '@omnibus/core' ? ['zod'] : ['@omnibus/core'];
  for (const name of framework) {
    expect(peers[name] && !m.dependencies?.[name], `${name} is not a peer dependency (and only that)`);
  }
  return problems;
}
