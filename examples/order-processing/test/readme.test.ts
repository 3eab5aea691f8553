import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);

/** READMEs whose snippets must be the example files: the project's, and the one npm shows for core. */
const READMES = ['README.md', 'packages/core/README.md'];

/** Every `<!-- snippet: FILE -->` block in a README must match FILE (or its readme:start/end region). */
it.each(READMES)('%s snippets are the example files, verbatim', (readmePath) => {
  const readme = readFileSync(new URL(readmePath, root), 'utf8');
  const snippets = [...readme.matchAll(/<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
  expect(snippets.length).toBeGreaterThanOrEqual(2);
  for (const [, file, code] of snippets) {
    const source = readFileSync(new URL(file!, root), 'utf8');
    const region = /\/\/ --- readme:start\n([\s\S]*?)\/\/ --- readme:end/.exec(source)?.[1] ?? source;
    expect(code, `${readmePath} snippet of ${file}`).toBe(region);
  }
});
