import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The workspace root (this file is scripts/packaging/workspace.ts). */
export const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

/** A publishable workspace package: one whose package.json is not `"private": true`. */
export interface WorkspacePackage {
  name: string;
  version: string;
  /** Absolute directory. */
  dir: string;
  /** Directory relative to the workspace root, e.g. `adapters/kafka`. */
  path: string;
  manifest: Manifest;
}

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  repository?: { type?: string; url?: string; directory?: string };
  engines?: Record<string, string>;
  sideEffects?: boolean;
  type?: string;
  exports?: Record<string, string | Record<string, string>>;
  files?: string[];
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export const readManifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

/** Every package of the workspace that is not private, found by pnpm (so new adapters count at once). */
export function publishablePackages(): WorkspacePackage[] {
  const listed = JSON.parse(
    execFileSync('pnpm', ['ls', '--recursive', '--depth', '-1', '--json'], { cwd: ROOT, encoding: 'utf8' }),
  ) as { name: string; path: string; private?: boolean }[];
  return listed
    .filter((p) => p.path !== ROOT && p.private !== true)
    .map((p) => {
      const manifest = readManifest(p.path);
      return { name: p.name, version: manifest.version, dir: p.path, path: relative(ROOT, p.path), manifest };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The environment of a user's shell: none of the workspace's pnpm settings (NODE_OPTIONS, npm_config_*). */
export function cleanEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === 'NODE_OPTIONS' || /^(npm|pnpm)_/i.test(name)) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}
